"""Severa invoices in the source status -> Visma.net customer invoices, then marked transferred."""

from __future__ import annotations

from datetime import timedelta

from severa_sync.datatypes import options
from severa_sync.datatypes.display import member
from severa_sync.datatypes.model import (
    Bind,
    DataType,
    LogEntry,
    Reference,
    RowReference,
    SeveraCall,
    StatusQueue,
    VismaDocument,
    VismaExport,
    WindowKind,
)

INVOICES = DataType(
    name="invoices",
    noun="Invoice",
    label="Invoice number",
    entity="Invoice",
    read=SeveraCall(
        "IInvoice/GetInvoicesByDateAndStatus",
        (
            ("businessUnitGUID", Bind.BUSINESS_UNIT),
            ("startDate", Bind.WINDOW_START),
            ("endDate", Bind.WINDOW_END),
            ("status", Bind.SOURCE_STATUS),
            ("options", options.NONE),
        ),
    ),
    window_kind=WindowKind.RANGE,
    by_key=SeveraCall("IInvoice/GetInvoiceByGUID", (("invoiceGUID", Bind.KEY),)),
    # Unique per numbering unit, and untouched by a GUID incident.
    by_number=SeveraCall(
        "IInvoice/GetInvoiceByNumber",
        (("invoiceNumber", Bind.NUMBER), ("businessUnitGUID", Bind.BUSINESS_UNIT)),
    ),
    # The source status is the queue (engine/invoice_queue.py): read every run, whatever the dates.
    queue=SeveraCall(
        "IInvoice/GetInvoicesByStatus",
        (
            ("businessUnitGUID", Bind.BUSINESS_UNIT),
            ("status", Bind.SOURCE_STATUS),
            ("options", options.NONE),
            ("maxInvoices", Bind.LIMIT),
        ),
    ),
    status_queue=StatusQueue(
        member="InvoiceStatus",
        mark=SeveraCall(
            "IInvoice/SetInvoiceStatus", (("invoiceGUID", Bind.KEY), ("status", Bind.TRANSFERRED_STATUS))
        ),
        reread_before_marking=True,
        # Finance talks about Financials' number: Severa's log says which document it became.
        log_entry=LogEntry(
            SeveraCall(
                "IInvoice/AddNewInvoiceLogEntry",
                (
                    ("invoiceGuid", Bind.KEY),
                    ("context", "severa-sync"),
                    ("text", Bind.LOG_TEXT),
                    ("source", "severa-sync"),
                    ("eventTimeUtc", Bind.EVENT_TIME),
                    # Severa's own guard: the same entry twice (a retried run) is kept once.
                    ("ignoreDuplicates", True),
                ),
            ),
            text="Transferred to Visma.net Financials as {document} {number}",
            kind_member="IsCreditNote",
            documents=("customer invoice", "customer credit note"),
        ),
    ),
    export=VismaExport(
        VismaDocument.INVOICE,
        references=(
            Reference("AccountGUID", "accounts"),
            Reference("MainCaseGUID", "cases", required=False),
        ),
        # A row's items: the products it bills (targets/visma/target.py, the row's item).
        row_references=(RowReference("InvoiceRows", "ProductGUIDs", "products"),),
    ),
    default_schedule="cron(30 4 * * ? *)",
    depends_on=("accounts", "cases", "products"),
    default_window=timedelta(days=7),
    default_overlap=timedelta(minutes=2),
    display_key=member("Number"),
)
