"""Severa absences (activities of the Absences category) -> S3, one file per ISO week for payroll."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from severa_sync.datatypes.display import text, with_guid
from severa_sync.datatypes.model import (
    Bind,
    DataType,
    Partition,
    S3Export,
    SeveraCall,
    WindowKind,
)
from severa_sync.datatypes.users import user_codes

#: The activity category that holds absences (``GetActivitiesByDate``'s ``activityCategory``).
ABSENCES_CATEGORY = "Absences"


def display_absence(record: Any, names: Mapping[str, str]) -> str | None:
    """The span and whose (the user's code where known); never the name or notes (an absence's
    text may be personal)."""
    start, end = getattr(record, "StartDateTime", None), getattr(record, "EndDateTime", None)
    user_guid = text(getattr(record, "OwnerUserGUID", None))
    user = names.get(user_guid, user_guid) if user_guid else None
    span = " to ".join(f"{t:%Y-%m-%d %H:%M}" for t in (start, end) if t is not None)
    return with_guid([span or None, f"user {user}" if user else None], record)


ABSENCES = DataType(
    name="absences",
    noun="Absence",
    entity="Activity",
    read=SeveraCall(
        "IActivity/GetActivitiesByDate",
        (
            ("startDate", Bind.WINDOW_START),
            ("endDate", Bind.WINDOW_END),
            ("activityCategory", ABSENCES_CATEGORY),
            ("businessUnitGuid", Bind.BUSINESS_UNIT),
        ),
    ),
    window_kind=WindowKind.RANGE,
    export=S3Export(Partition.WEEK, date_member="StartDateTime"),
    default_schedule="cron(0 2 ? * MON *)",
    default_window=timedelta(days=7),
    # Absences are read by their own dates, not by change time: re-read four weeks back, and at
    # least the reconciliation span, so late edits reach the salary files; weekly files are
    # replaced whole, never appended.
    default_overlap=timedelta(weeks=4),
    display_key=display_absence,
    display_lookups=(user_codes("OwnerUserGUID"),),
    lookahead=timedelta(weeks=4),
    align_weeks=True,
    reconciles=True,
)
