"""Severa users as display keys show them: by their code, the employee number payroll knows.

Not a data type (users are not transferred): a lookup the hour entries and absences declare.
"""

from __future__ import annotations

from severa_sync.datatypes.model import Bind, DisplayLookup, SeveraCall

#: UserGetOptions IncludeInactive (2): people who have left still have hour entries and absences.
OPTIONS_INCLUDE_INACTIVE = 2


def user_codes(member: str) -> DisplayLookup:
    """The users' codes, for the record member holding a user's GUID."""
    read = SeveraCall(
        "IUser/GetUsersChangedSince",
        (
            ("businessUnitGUID", Bind.BUSINESS_UNIT),
            ("startDateTime", Bind.EVER),
            ("options", OPTIONS_INCLUDE_INACTIVE),
        ),
    )
    return DisplayLookup(member, read, "Code")
