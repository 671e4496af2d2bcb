"""Visma.net payment state of the invoices severa-sync transferred -> back into Severa.

Read from Visma.net (customer invoices and credit notes changed since the watermark), kept only
where the invoices' mappings say severa-sync created the document, keyed by the Severa invoice
GUID; written into Severa as a payment date and, where configured, a paid or partly-paid status
(``severa.writes``). Reference: visma-net-dtos.md section 7; severa-soap-api.md (IInvoice).
"""

from __future__ import annotations

from datetime import timedelta

from severa_sync.datatypes.display import member
from severa_sync.datatypes.model import (
    Bind,
    DataType,
    SeveraCall,
    SeveraWrite,
    VismaDocumentKind,
    VismaRead,
    WindowKind,
)

PAYMENTS = DataType(
    name="payments",
    noun="Payment",
    label="Invoice number",
    entity="Invoice",
    read=None,
    visma_read=VismaRead(
        documents=(
            (VismaDocumentKind.INVOICE, "/v1/customerinvoice"),
            (VismaDocumentKind.CREDIT_NOTE, "/v1/customerCreditNote"),
        ),
        transferred_by="invoices",
    ),
    window_kind=WindowKind.SINCE,
    export=SeveraWrite(
        read=SeveraCall("IInvoice/GetInvoiceByGUID", (("invoiceGUID", Bind.KEY),)),
        payment_date=SeveraCall(
            "IInvoice/SetInvoicePaymentDate", (("invoiceGUID", Bind.KEY), ("paymentDate", Bind.PAYMENT_DATE))
        ),
        status=SeveraCall(
            "IInvoice/SetInvoiceStatus", (("invoiceGUID", Bind.KEY), ("status", Bind.PAYMENT_STATUS))
        ),
    ),
    # Daily, after the invoices' run; never more often than hourly (Severa's daily quota).
    default_schedule="cron(0 6 * * ? *)",
    depends_on=("invoices",),
    default_window=timedelta(days=1),
    # lastModifiedDateTime has milliseconds; the overlap covers documents committed late.
    default_overlap=timedelta(minutes=5),
    display_key=member("Number"),
    # Customers pay most weeks; a week without one payment state read is worth a look (CloudWatch caps the alarm at 7 days).
    nothing_delivered_days=7,
)
