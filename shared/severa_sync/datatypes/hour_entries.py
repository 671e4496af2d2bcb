"""Severa hour entries -> S3, one JSON Lines file per day that is Severa's image of that day."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from severa_sync.datatypes.display import text, with_guid
from severa_sync.datatypes.model import (
    Bind,
    DataType,
    Partition,
    Reference,
    S3Export,
    SeveraCall,
    WindowKind,
)
from severa_sync.datatypes.users import user_codes


def display_hour_entry(record: Any, names: Mapping[str, str]) -> str | None:
    """What payroll recognises: the day, the hours, whose and on which case: the user by their code
    and the case by its number where known, else their GUIDs (and the entry's GUID to look it up)."""
    day, hours = getattr(record, "EventDate", None), getattr(record, "Quantity", None)
    user_guid, case_guid = text(getattr(record, "UserGUID", None)), text(getattr(record, "CaseGUID", None))
    user = names.get(user_guid, user_guid) if user_guid else None
    case = names.get(case_guid, case_guid) if case_guid else None
    return with_guid(
        [
            day.date().isoformat() if day else None,
            f"{hours.normalize():f} h" if hours is not None else None,
            f"user {user}" if user else None,
            f"case {case}" if case else None,
        ],
        record,
    )


HOUR_ENTRIES = DataType(
    name="hour_entries",
    noun="Hour entry",
    entity="HourEntry",
    read=SeveraCall("IHourEntry/GetHourEntriesChangedSince", (("startDate", Bind.WINDOW_START),)),
    window_kind=WindowKind.SINCE,
    fallback=SeveraCall(
        "IHourEntry/GetHourEntriesByDate",
        (
            ("businessUnitGUID", Bind.BUSINESS_UNIT),
            ("startdate", Bind.WINDOW_START),
            ("enddate", Bind.WINDOW_END),
        ),
    ),
    export=S3Export(Partition.DAY, date_member="EventDate"),
    default_schedule="cron(0 3 * * ? *)",
    default_window=timedelta(days=7),
    default_overlap=timedelta(minutes=2),
    display_key=display_hour_entry,
    display_references=(Reference("CaseGUID", "cases", required=False),),
    display_lookups=(user_codes("UserGUID"),),
    fallback_windows=True,
    # Days are read by date, the watermark is a change time: an entry dated ahead and not read
    # now would wait for its next change. The reconciliation reads a year ahead, in one window.
    lookahead=timedelta(days=366),
    day_images=True,
    reconciles=True,
    nothing_delivered_days=4,
)
