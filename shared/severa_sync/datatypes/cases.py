"""Severa cases -> Visma.net projects of the case's customer, hourly after accounts."""

from __future__ import annotations

from datetime import timedelta

from severa_sync.datatypes import options
from severa_sync.datatypes.display import member
from severa_sync.datatypes.model import (
    Bind,
    DataType,
    Reference,
    SeveraCall,
    VismaDocument,
    VismaExport,
    WindowKind,
)

CASES = DataType(
    name="cases",
    noun="Case",
    entity="Case",
    read=SeveraCall(
        "ICase/GetCasesChangedSince",
        (
            ("businessUnitGUID", Bind.BUSINESS_UNIT),
            ("startDateTime", Bind.WINDOW_START),
            ("options", options.INCLUDE_INACTIVE),
        ),
    ),
    window_kind=WindowKind.SINCE,
    by_key=SeveraCall("ICase/GetCaseByGUID", (("caseGuid", Bind.KEY),)),
    export=VismaExport(VismaDocument.PROJECT, references=(Reference("AccountGUID", "accounts"),)),
    default_schedule="cron(15 * * * ? *)",
    depends_on=("accounts",),
    default_window=timedelta(days=7),
    default_overlap=timedelta(minutes=2),
    display_key=member("CaseNumber"),
    # Case spells them UpdatedTs/InsertTs.
    change_time_members=("UpdatedTs", "InsertTs"),
)
