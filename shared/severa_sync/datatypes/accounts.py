"""Severa accounts (customers with a number) -> Visma.net customers, hourly."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from severa_sync.datatypes import options
from severa_sync.datatypes.display import text
from severa_sync.datatypes.model import (
    AttachedRead,
    Bind,
    DataType,
    SeveraCall,
    VismaDocument,
    VismaExport,
    WindowKind,
)

#: ``GetAllCustomers`` answers at most this many rows per call.
CUSTOMER_PAGE_SIZE = 100

#: Every address of the customer's company (from 2000-01-01: all of them, whenever they changed):
#: the head-office (postal) and billing addresses Visma.net's customer carries. Addresses change on
#: their own; the customer reads' CheckAddressChanges option answers the customer when they do.
ADDRESSES = AttachedRead(
    member="Addresses",
    read=SeveraCall(
        "IAddress/GetAddressesChangedSince",
        (
            ("accountGUID", Bind.KEY),
            ("startDateTime", Bind.EVER),
            ("options", options.INCLUDE_ADDRESSES_OF_INACTIVE_ACCOUNTS),
        ),
    ),
    # Addresses belong to the customer's company (Address.CompanyGUID); a customer read from
    # Severa always has one, but a customer without one has no addresses to read.
    belongs_to="CompanyGUID",
)


def display_customer(record: Any, names: Mapping[str, str]) -> str | None:
    """ "Acme Oy (10023)": the name and the customer number people know."""
    name, number = text(getattr(record, "Name", None)), text(getattr(record, "Number", None))
    if name and number:
        return f"{name} ({number})"
    return name or number


ACCOUNTS = DataType(
    name="accounts",
    noun="Account",
    entity="Customer",
    read=SeveraCall(
        "ICustomer/GetCustomersChangedSince",
        (("startDateTime", Bind.WINDOW_START), ("options", options.ACCOUNTS)),
    ),
    window_kind=WindowKind.SINCE,
    by_key=SeveraCall("ICustomer/GetCustomerByGUID", (("accountGuid", Bind.KEY),)),
    # Paged: the whole customer list, filtered to the window (severa/source.py, read_fallback).
    fallback=SeveraCall(
        "ICustomer/GetAllCustomers",
        (("options", options.ACCOUNTS), ("startFromIndex", Bind.PAGE_START), ("count", Bind.PAGE_SIZE)),
        page_size=CUSTOMER_PAGE_SIZE,
    ),
    export=VismaExport(VismaDocument.CUSTOMER),
    default_schedule="cron(0 * * * ? *)",
    default_window=timedelta(days=7),
    default_overlap=timedelta(minutes=2),
    display_key=display_customer,
    # Customer spells them UpdatedTS/InsertTS.
    change_time_members=("UpdatedTS", "InsertTS"),
    attached=(ADDRESSES,),
)
