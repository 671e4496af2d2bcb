"""What adoption accepts: is a Visma.net document found under a record's key this record's document?

A record with no mapping is looked up in Visma.net before it is created (an earlier run may have
written it and stopped before saving the mapping). The key alone is not proof: an accountant's own
customer may carry the same number, a hand-typed invoice the same ``externalReference``. A found
document is taken as this record's only when severa-sync created it (``creations``) or it matches
by the rule below (docs/operations.md, "what adoption accepts"); otherwise the record is parked
with ``ForeignDocument`` naming both documents, and the document is left exactly as it is.

- customer (found by number = Severa account ``Number``): the VAT ids are equal when both carry one
  (``FI12345678`` = ``fi 1234567-8`` = ``12345678``: letters, digits only, a country prefix
  optional); otherwise the names are equal (case, spacing and punctuation ignored).
- project (found by ``projectID`` = Severa ``CaseNumber``): linked to the customer the case's account
  maps to, and its description equals the case name (normalised as names).
- invoice (found by ``externalReference`` = Severa invoice ``Number``): the same customer, the same
  document date, and a lines total (``detailTotalInCurrency``, else ``detailTotal``, else the sum of
  its lines) within rounding of ours: half a cent per line, at least one cent. An invoice with no
  total and no lines (typed in by hand, not yet filled) never matches.
- item (found by ``inventoryNumber`` = Severa product ``Code``): not a stock item, and its
  description equals the product name (normalised as names).

Read shapes follow visma-net-dtos.md section 7.2: ``customer`` is ``{number, name}`` on invoices
and, INFERRED the same, on projects (a plain string is accepted too).
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from severa_sync.errors import ForeignDocument, TargetUnavailable

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
_NOT_ALNUM = re.compile(r"[^0-9A-Z]")
CENT = Decimal("0.01")
HALF_CENT = Decimal("0.005")


def normal_name(value: Any) -> str:
    """Names compared as a person would: Unicode-normalised, case-folded, punctuation and runs of
    spaces ignored (``"Acme Oy."`` = ``"ACME  oy"``)."""
    text = unicodedata.normalize("NFKC", str(value or "")).casefold()
    return " ".join(_NOT_WORD.sub(" ", text).split())


def normal_vat(value: Any) -> str:
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", str(value or "")).upper())


def same_vat(ours: str, theirs: str) -> bool:
    """Equal, or equal but for a two-letter country prefix one side leaves out."""
    if ours == theirs:
        return True
    longer, shorter = (ours, theirs) if len(ours) > len(theirs) else (theirs, ours)
    return longer[:2].isalpha() and shorter.isdigit() and longer[2:] == shorter


def document(found: Any, what: str) -> dict[str, Any]:
    if not isinstance(found, dict):
        raise TargetUnavailable(
            f"Visma.net answered the look-up of {what} with a {type(found).__name__}, not a document"
        )
    return found


def customer_of(found: dict[str, Any]) -> str:
    link = found.get("customer", found.get("customerNumber"))
    if isinstance(link, dict):
        link = link.get("number", link.get("id"))
    return str(link).strip() if link is not None else ""


# -- the rules: each returns what differs (nothing: the document is adopted) ----------------------
def customer_mismatch(found: dict[str, Any], fields: dict[str, Any]) -> list[str]:
    ours, theirs = normal_vat(fields.get("VatNumber")), normal_vat(found.get("vatRegistrationId"))
    if ours and theirs:
        return [] if same_vat(ours, theirs) else ["the VAT ids differ"]
    if normal_name(fields.get("Name")) and normal_name(fields.get("Name")) == normal_name(found.get("name")):
        return []
    return ["the names differ" + ("" if ours or theirs else " and neither carries a VAT id")]


def project_mismatch(found: dict[str, Any], customer: str, fields: dict[str, Any]) -> list[str]:
    reasons = []
    linked = customer_of(found)
    if linked != customer:
        reasons.append(f"it belongs to customer {linked or '(none)'}, not {customer}")
    if normal_name(found.get("description")) != normal_name(fields.get("Name")):
        reasons.append("its description is not the case name")
    return reasons


def invoice_mismatch(found: dict[str, Any], dto: dict[str, Any]) -> list[str]:
    reasons = []
    linked = customer_of(found)
    if linked != str(dto["customerNumber"]):
        reasons.append(f"it is for customer {linked or '(none)'}, not {dto['customerNumber']}")
    if str(found.get("documentDate") or "")[:10] != str(dto["documentDate"])[:10]:
        reasons.append("its document date differs")
    lines = dto.get("invoiceLines") or dto.get("lines") or []  # an invoice's, a credit note's
    ours = sum(
        (_amount(line.get("quantity")) * _amount(line.get("unitPriceInCurrency")) for line in lines),
        Decimal(0),
    )
    theirs = lines_total(found)
    if theirs is None:
        reasons.append("it has no total and no lines")
    elif abs(theirs - ours) > max(CENT, HALF_CENT * len(lines)):
        reasons.append("its total differs")
    return reasons


def lines_total(found: dict[str, Any]) -> Decimal | None:
    for name in ("detailTotalInCurrency", "detailTotal"):
        if found.get(name) is not None:
            return _amount(found[name])
    lines = [line for line in found.get("invoiceLines") or [] if isinstance(line, dict)]
    if not lines:
        return None
    return sum((_amount(line.get("amountInCurrency", line.get("amount"))) for line in lines), Decimal(0))


def _amount(value: Any) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal("NaN")
    return number if number.is_finite() else Decimal("NaN")


def foreign(record: str, document_name: str, reasons: list[str], detail: dict[str, str]) -> ForeignDocument:
    """The error that parks ``record``: names both documents and what differs, no customer data
    beyond the keys and the Visma.net document's own name."""
    return ForeignDocument(
        f"{record}: {document_name} already exists in Visma.net under the same key, was not created "
        f"by severa-sync and does not match ({'; '.join(reasons)}): not adopted and not changed. "
        "Renumber one of them, or correct the Visma.net document if it is this one; the record is "
        "tried again on every run",
        detail={**detail, "mismatch": "; ".join(reasons)},
    )


def item_mismatch(found: dict[str, Any], fields: dict[str, Any]) -> list[str]:
    """An item found by the product's code is the product's when it is a non-stock item (invoice
    lines take no stock items) whose description is the product name (normalised as names)."""
    reasons = []
    if found.get("stockItem") is True:
        reasons.append("it is a stock item")
    if normal_name(found.get("description")) != normal_name(fields.get("Name")):
        reasons.append("its description is not the product name")
    return reasons
