"""Hour entries and absences are logged by what payroll recognises (issue 12 item 5): the date,
the user, the case and the hours, not only a GUID."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from severa_sync.registry import get
from severa_sync.severa.models import Activity, HourEntry


def test_an_hour_entry_shows_date_hours_user_and_case() -> None:
    entry = HourEntry(
        GUID="e-1",
        EventDate=datetime(2026, 11, 20),
        Quantity=Decimal("7.50"),
        UserGUID="u-9",
        CaseGUID="c-4",
    )
    assert get("hour_entries").display_key(entry, {}) == "2026-11-20, 7.5 h, user u-9, case c-4 (e-1)"


def test_an_absence_shows_its_days_and_user() -> None:
    absence = Activity(
        GUID="a-1",
        StartDateTime=datetime(2026, 11, 23, 8, 0),
        EndDateTime=datetime(2026, 11, 24, 16, 0),
        OwnerUserGUID="u-9",
        Notes="private text never shown",
    )
    assert get("absences").display_key(absence, {}) == "2026-11-23 08:00 to 2026-11-24 16:00, user u-9 (a-1)"


def test_missing_fields_are_left_out_and_the_guid_stays() -> None:
    assert get("hour_entries").display_key(HourEntry(GUID="e-2"), {}) == "e-2"


def test_an_hour_entrys_case_is_shown_by_its_number_where_known() -> None:
    entry = HourEntry(GUID="e-1", EventDate=datetime(2026, 11, 20), Quantity=Decimal("2"), CaseGUID="c-4")
    shown = get("hour_entries").display_key(entry, {"c-4": "512"})
    assert shown == "2026-11-20, 2 h, case 512 (e-1)"
