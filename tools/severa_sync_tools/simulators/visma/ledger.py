"""The simulated company: customers, projects, items, customer invoices and background jobs.

Shapes follow reference visma-net-api.md sections 4-6: request bodies must be value-wrapped (an
unwrapped field is refused with 400), responses are plain; POST answers 201 with ``Location``, PUT
204; list GETs page with ``pageNumber``/``pageSize`` and carry ``metadata`` on every item. Messages
of validation errors are the simulator's own wording in Visma.net's ``{"message": "VismaId: ..."}``
form. ``Location`` and ``stateLocation`` name ``location_host`` (by default the real API host), so a
client that follows them instead of taking the last segment fails here.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from severa_sync_tools.simulators.visma import dto_fields, reference_data
from severa_sync_tools.simulators.visma.dto_fields import check_enum, check_members
from severa_sync_tools.simulators.visma.wire import BadRequest, Reply, error_body, unwrap


def _now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")


def _segments(value: Any, where: str) -> list[dict[str, Any]] | None:
    """A ``subaccount`` array: bare SegmentUpdateDto items (``segmentId`` int, ``segmentValue``)."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(s, dict) and isinstance(s.get("segmentId"), int) and isinstance(s.get("segmentValue"), str)
        for s in value
    ):
        raise BadRequest(
            f"Error creating document. {where}: 'subaccount' must be an array of bare "
            "{segmentId, segmentValue} objects."
        )
    return [dict(s) for s in value]


#: A document's ``lastModifiedDateTime`` written now (seeded documents carry one too).
modified_now = _now


#: The spec's formats for ``lastModifiedDateTime`` (visma-net-dtos.md section 0).
FILTER_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
)
CONDITIONS: dict[str, Any] = {
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}


def modified_as_asked(rows: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    """The ``lastModifiedDateTime`` + ``lastModifiedDateTimeCondition`` filter every list GET takes;
    the spec says the two must be used together."""
    value, condition = query.get("lastModifiedDateTime"), query.get("lastModifiedDateTimeCondition")
    if value is None and condition is None:
        return rows
    if value is None or condition not in CONDITIONS:
        raise BadRequest(
            "The request is invalid: lastModifiedDateTime and lastModifiedDateTimeCondition "
            "(>, <, >= or <=) must be used together."
        )
    for form in FILTER_FORMATS:
        try:
            since = datetime.strptime(value, form)
            break
        except ValueError:
            continue
    else:
        raise BadRequest(f"The request is invalid: '{value}' is not a valid lastModifiedDateTime.")
    compare = CONDITIONS[condition]
    return [
        row
        for row in rows
        if row.get("lastModifiedDateTime")
        and compare(datetime.fromisoformat(str(row["lastModifiedDateTime"])), since)
    ]


def _number(value: Any, name: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise BadRequest(f"Error creating document. '{name}' is not a number.") from None


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(pattern, re.IGNORECASE), handler)
    for method, pattern, handler in (
        ("GET", r"/v1/customer", "list_customers"),
        ("POST", r"/v1/customer", "create_customer"),
        ("GET", r"/v1/customer/(?P<key>[^/]+)", "get_customer"),
        ("PUT", r"/v1/customer/(?P<key>[^/]+)", "update_customer"),
        ("GET", r"/v1/project", "list_projects"),
        ("POST", r"/v1/project", "create_project"),
        ("GET", r"/v1/project/(?P<key>[^/]+)", "get_project"),
        ("PUT", r"/v1/project/(?P<key>[^/]+)", "update_project"),
        ("GET", r"/v1/inventory", "list_items"),
        ("POST", r"/v1/inventory", "create_item"),
        ("PUT", r"/v1/inventory/(?P<key>[^/]+)", "update_item"),
        ("GET", r"/v1/customerinvoice", "list_invoices"),
        ("POST", r"/v[12]/customerinvoice", "create_invoice"),
        ("GET", r"/v1/customerinvoice/(?P<key>[^/]+)", "get_invoice"),
        ("GET", r"/v1/customerCreditNote", "list_credit_notes"),
        ("POST", r"/v2/customerCreditNote", "create_credit_note"),
        ("GET", r"/v1/customerCreditNote/(?P<key>[^/]+)", "get_credit_note"),
        ("GET", r"/v1/background/(?P<key>[^/]+)", "background_state"),
        ("GET", r"/v1/background/(?P<key>[^/]+)/content", "background_content"),
        *reference_data.ROUTES,
    )
]


class Ledger(reference_data.ReferenceData):
    def __init__(
        self,
        *,
        location_host: str,
        max_page_size: int = 100,
        background_polls: int = 1,
        background_ttl_seconds: float = 24 * 3600,
        background_defers_writes: bool = False,
        vat_codes: frozenset[str] = frozenset({"0", "1", "2", "3"}),
        clock: Callable[[], float] = time.monotonic,
    ):
        self.location_host = location_host.rstrip("/")
        self.max_page_size = max_page_size
        self.background_polls = background_polls
        self.background_ttl_seconds = background_ttl_seconds
        #: False: a queued write is made at once (its state still reads "Started" for a while).
        #: True: it is made only when its state first reads "Finished", as a long job in the real ERP;
        #: until then no list or look-up shows it.
        self.background_defers_writes = background_defers_writes
        self.vat_codes = vat_codes
        self._clock = clock
        self.lock = threading.RLock()
        self.customers: dict[str, dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.customer_classes = reference_data.default_customer_classes()
        self.item_classes = reference_data.default_item_classes()
        #: Inventory items by inventoryNumber: the company's own, then those created over the API.
        self.items = reference_data.default_items()
        self._next_internal = 1
        self._next_invoice = 100001
        #: Credit notes have their own number series in Visma.net.
        self.credit_notes: dict[str, dict[str, Any]] = {}
        self._next_credit_note = 900001
        self._next_payment = 500001  # customer payments' own number series

    # -- dispatch ------------------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict[str, str], raw: bytes, *, background: bool) -> Reply:
        path = path.rstrip("/") or "/"
        allowed = False
        for route_method, pattern, handler in _ROUTES:
            match = pattern.fullmatch(path)
            if not match:
                continue
            allowed = True
            if route_method != method:
                continue
            with self.lock:
                try:
                    if method in ("POST", "PUT") and background:
                        return self._queue(handler, match.groupdict(), query, raw)
                    return self._run(handler, match.groupdict(), query, raw)
                except BadRequest as exc:
                    return Reply(400, error_body(exc.message))
        if allowed:
            return Reply(405, {"message": f"The requested resource does not support http method '{method}'."})
        return Reply(404, {"message": f"No HTTP resource was found that matches the request URI '{path}'."})

    def _run(self, handler: str, args: dict[str, str], query: dict[str, str], raw: bytes) -> Reply:
        body: dict[str, Any] = {}
        if handler.startswith(("create_", "update_")):
            try:
                parsed = json.loads(raw or b"null")
            except ValueError:
                raise BadRequest("The request is invalid: the body is not JSON.") from None
            body = unwrap(parsed)
        result: Reply = getattr(self, handler)(body=body, query=query, **args)
        return result

    def _queue(self, handler: str, args: dict[str, str], query: dict[str, str], raw: bytes) -> Reply:
        """Background API: the write runs now (or, with ``background_defers_writes``, when the job
        finishes); its state reads "Started" for ``background_polls`` polls."""
        work = (handler, args, query, raw)
        job_id = str(uuid.uuid4())
        self.jobs[job_id] = {
            "result": None if self.background_defers_writes else self._run_queued(*work),
            "work": work,
            "polls_left": self.background_polls,
            "received": _now(),
            "created_at": self._clock(),
            "expired": False,
        }
        return Reply(202, {"id": job_id, "stateLocation": f"{self.location_host}/v1/background/{job_id}"})

    def _run_queued(self, handler: str, args: dict[str, str], query: dict[str, str], raw: bytes) -> Reply:
        try:
            return self._run(handler, args, query, raw)
        except BadRequest as exc:
            return Reply(400, error_body(exc.message))

    # -- paging --------------------------------------------------------------------------------
    def _page(self, rows: list[dict[str, Any]], query: dict[str, str]) -> Reply:
        rows = modified_as_asked(rows, query)
        try:
            number = max(int(query.get("pageNumber", "1")), 1)
            size = min(max(int(query.get("pageSize", str(self.max_page_size))), 1), self.max_page_size)
        except ValueError:
            raise BadRequest("The request is invalid: pageNumber and pageSize must be numbers.") from None
        chunk = rows[(number - 1) * size : number * size]
        meta = {"totalCount": len(rows), "maxPageSize": self.max_page_size}
        return Reply(200, [{**copy.deepcopy(row), "metadata": meta} for row in chunk])

    def _created(self, kind: str, key: str) -> Reply:
        return Reply(
            201, None, {"Location": f"{self.location_host}/v1/{kind}/{key}", "ETag": f'"{uuid.uuid4()}"'}
        )

    def _internal_id(self) -> int:
        self._next_internal += 1
        return self._next_internal - 1

    # -- customers -----------------------------------------------------------------------------
    def list_customers(self, *, body: dict[str, Any], query: dict[str, str]) -> Reply:
        return self._page(list(self.customers.values()), query)

    def get_customer(self, *, key: str, body: dict[str, Any], query: dict[str, str]) -> Reply:
        found = self.customers.get(key)
        return (
            Reply(200, copy.deepcopy(found))
            if found
            else Reply(404, error_body(f"Customer '{key}' not found."))
        )

    def create_customer(self, *, body: dict[str, Any], query: dict[str, str]) -> Reply:
        dto_fields.check_customer(body)
        self._check_customer_references(body)
        number = str(body.get("number") or "").strip()
        if not number:
            raise BadRequest("Error inserting the customer. 'Customer ID' cannot be empty.")
        if number in self.customers:
            raise BadRequest(f"Error inserting the customer. Customer ID '{number}' already exists.")
        if not body.get("name"):
            raise BadRequest("Error inserting the customer. 'Customer name' cannot be empty.")
        self.customers[number] = {
            "internalId": self._internal_id(),
            "number": number,
            "createdDateTime": _now(),
        }
        self._apply_customer(self.customers[number], body)
        return self._created("customer", number)

    def update_customer(self, *, key: str, body: dict[str, Any], query: dict[str, str]) -> Reply:
        dto_fields.check_customer(body)
        if key not in self.customers:
            return Reply(404, error_body(f"Customer '{key}' not found."))
        self._check_customer_references(body)
        self._apply_customer(self.customers[key], body)
        return Reply(204)

    def _check_customer_references(self, body: dict[str, Any]) -> None:
        """Credit terms and VAT zones must exist in the company, as Visma.net checks them."""
        terms, zones = self._customer_references()
        if "creditTermsId" in body and body["creditTermsId"] not in terms:
            raise BadRequest(f"Error: 'Terms' cannot be found in the system: {body['creditTermsId']!r}.")
        if "vatZoneId" in body and body["vatZoneId"] not in zones:
            raise BadRequest(f"Error: 'VAT zone' cannot be found in the system: {body['vatZoneId']!r}.")

    @staticmethod
    def _apply_customer(row: dict[str, Any], body: dict[str, Any]) -> None:
        """Stored in the read DTO's shape (CustomerDto): references as ``{id}``, a nested DTO merged
        member by member (a PUT changes only the members it sends)."""
        for name in ("name", "status", "vatRegistrationId", "corporateId", "currencyId"):
            if name in body:
                row[name] = body[name]
        row.setdefault("status", "Active")
        if "customerClassId" in body:
            row["customerClass"] = {"id": body["customerClassId"]}
        if "creditTermsId" in body:
            row["creditTerms"] = {"id": body["creditTermsId"]}
        if "vatZoneId" in body:
            row["vatZone"] = {"id": body["vatZoneId"]}
        for name in dto_fields.CUSTOMER_NESTED:
            if name in body:
                merged = {**row.get(name, {}), **body[name]}
                if "countryId" in merged:
                    merged["country"] = {"id": merged.pop("countryId")}
                row[name] = merged
        row["lastModifiedDateTime"] = _now()

    # -- projects ------------------------------------------------------------------------------
    def list_projects(self, *, body: dict[str, Any], query: dict[str, str]) -> Reply:
        return self._page(list(self.projects.values()), query)

    def get_project(self, *, key: str, body: dict[str, Any], query: dict[str, str]) -> Reply:
        found = self.projects.get(key)
        return (
            Reply(200, copy.deepcopy(found))
            if found
            else Reply(404, error_body(f"Project '{key}' not found."))
        )

    def create_project(self, *, body: dict[str, Any], query: dict[str, str]) -> Reply:
        check_members(body, dto_fields.PROJECT, "ProjectUpdateDto")
        check_enum(body, "status", dto_fields.PROJECT_STATUS, "ProjectUpdateDto")
        pid = str(body.get("projectID") or "").strip()
        if not pid:
            raise BadRequest("Error creating the project. 'Project ID' cannot be empty.")
        if pid in self.projects:
            raise BadRequest(f"Error creating the project. Project ID '{pid}' already exists.")
        if not body.get("description"):
            raise BadRequest("Error creating the project. 'Description' cannot be empty.")
        if not body.get("template") and not body.get("defSub"):
            # The spec: defSub is "Mandatory field when Project Template is not specified".
            raise BadRequest("Error creating the project. 'Default Subaccount' cannot be empty.")
        self.projects[pid] = {"internalID": self._internal_id(), "projectID": pid, "createdDateTime": _now()}
        self._apply_project(self.projects[pid], body)
        return self._created("project", pid)

    def update_project(self, *, key: str, body: dict[str, Any], query: dict[str, str]) -> Reply:
        check_members(body, dto_fields.PROJECT, "ProjectUpdateDto")
        check_enum(body, "status", dto_fields.PROJECT_STATUS, "ProjectUpdateDto")
        if key not in self.projects:
            return Reply(404, error_body(f"Project '{key}' not found."))
        self._apply_project(self.projects[key], body)
        return Reply(204)

    def _apply_project(self, row: dict[str, Any], body: dict[str, Any]) -> None:
        if "customer" in body:
            row["customer"] = self._customer_ref(body["customer"], "project")
        for name in ("description", "status", "startDate", "template", "defSub"):
            if name in body:
                row[name] = body[name]
        row["lastModifiedDateTime"] = _now()

    def _customer_ref(self, number: Any, what: str) -> dict[str, Any]:
        customer = self.customers.get(str(number))
        if customer is None:
            raise BadRequest(f"Error creating the {what}. Customer '{number}' cannot be found in the system.")
        return {"number": customer["number"], "name": customer.get("name")}

    # -- inventory items -------------------------------------------------------------------------
    def list_items(self, *, body: dict[str, Any], query: dict[str, str]) -> Reply:
        rows = [
            row
            for row in self.items.values()
            if "inventoryNumber" not in query or row["inventoryNumber"] == query["inventoryNumber"]
        ]
        return self._page(rows, query)

    def create_item(self, *, body: dict[str, Any], query: dict[str, str]) -> Reply:
        """InventoryUpdateDto: ``inventoryNumber`` and ``itemClass`` are "Mandatory" for POST."""
        self._check_item(body)
        number = str(body.get("inventoryNumber") or "").strip()
        if not number:
            raise BadRequest("Error creating the item. 'Inventory ID' cannot be empty.")
        if number in self.items:
            raise BadRequest(f"Error creating the item. Inventory ID '{number}' already exists.")
        class_id = str(body.get("itemClass") or "").strip()
        if not class_id:
            raise BadRequest("Error creating the item. 'Item Class' cannot be empty.")
        item_class = self.item_classes.get(class_id)
        if item_class is None:
            raise BadRequest(
                f"Error creating the item. Item class '{class_id}' cannot be found in the system."
            )
        kind = body.get("type") or item_class["type"]
        self.items[number] = {
            "inventoryId": self._internal_id(),
            "inventoryNumber": number,
            "type": kind,
            "stockItem": kind not in dto_fields.NON_STOCK_TYPES,
            "itemClass": copy.deepcopy(item_class),
            "status": "Active",
            "createdDateTime": _now(),
        }
        self._apply_item(self.items[number], body)
        return self._created("inventory", number)

    def update_item(self, *, key: str, body: dict[str, Any], query: dict[str, str]) -> Reply:
        self._check_item(body)
        if "inventoryNumber" in body:
            # The spec: "Mandatory for POST, not applicable for PUT" (renumbering is its own action).
            raise BadRequest("The request is invalid: inventoryNumber is not applicable for PUT.")
        if key not in self.items:
            return Reply(404, error_body(f"Inventory item '{key}' not found."))
        self._apply_item(self.items[key], body)
        return Reply(204)

    @staticmethod
    def _check_item(body: dict[str, Any]) -> None:
        check_members(body, dto_fields.INVENTORY, "InventoryUpdateDto")
        check_enum(body, "type", dto_fields.INVENTORY_TYPE, "InventoryUpdateDto")
        check_enum(body, "status", dto_fields.INVENTORY_STATUS, "InventoryUpdateDto")
        price = body.get("defaultPrice")
        if price is not None and (isinstance(price, bool) or not isinstance(price, int | float)):
            raise BadRequest("The request is invalid: InventoryUpdateDto.defaultPrice must be a number.")

    def _apply_item(self, row: dict[str, Any], body: dict[str, Any]) -> None:
        for name in ("description", "status", "baseUnit", "salesUnit", "purchaseUnit", "defaultPrice"):
            if name in body:
                row[name] = body[name]
        if "vatCode" in body:
            if str(body["vatCode"]) not in self.vat_codes:
                raise BadRequest(
                    f"Error saving the item. VatCode '{body['vatCode']}' cannot be found in the system."
                )
            row["vatCode"] = {"id": str(body["vatCode"])}
        if "postingClass" in body:
            row["postingClass"] = {"id": body["postingClass"]}
        if "salesAccount" in body:
            row["salesAccount"] = {"number": body["salesAccount"]}
        row["lastModifiedDateTime"] = _now()

    # -- customer invoices ---------------------------------------------------------------------
    def list_invoices(self, *, body: dict[str, Any], query: dict[str, str]) -> Reply:
        changed = _modified_filter(query)
        rows = [
            row
            for row in self.invoices.values()
            if (
                "externalReference" not in query or row.get("externalReference") == query["externalReference"]
            )
            and ("customer" not in query or row["customer"]["number"] == query["customer"])
            and changed(row)
        ]
        return self._page(_expanded(rows, query), query)

    def get_invoice(self, *, key: str, body: dict[str, Any], query: dict[str, str]) -> Reply:
        found = self.invoices.get(key)
        return (
            Reply(200, copy.deepcopy(found))
            if found
            else Reply(404, error_body(f"Invoice '{key}' not found."))
        )

    def create_invoice(self, *, body: dict[str, Any], query: dict[str, str]) -> Reply:
        check_members(body, dto_fields.INVOICE, "CustomerInvoiceUpdateDto")
        for number, line in enumerate(body.get("invoiceLines") or [], start=1):
            if isinstance(line, dict):
                check_members(
                    line, dto_fields.INVOICE_LINE, "CustomerInvoiceLinesUpdateDto", f"invoiceLines[{number}]."
                )
        customer = self._customer_ref(body.get("customerNumber"), "document")
        project = body.get("project")
        if project is not None and str(project) not in self.projects:
            raise BadRequest(f"Error creating document. Project '{project}' cannot be found in the system.")
        if "creditTermsId" in body and body["creditTermsId"] not in self._customer_references()[0]:
            raise BadRequest(f"Error: 'Terms' cannot be found in the system: {body['creditTermsId']!r}.")
        lines = body.get("invoiceLines")
        if not isinstance(lines, list) or not lines:
            raise BadRequest("Error creating document. The document has no lines.")
        stored_lines = [self._invoice_line(i, line) for i, line in enumerate(lines, start=1)]
        reference = str(body.get("referenceNumber") or self._next_invoice)
        if not body.get("referenceNumber"):
            self._next_invoice += 1
        if reference in self.invoices:
            raise BadRequest(f"Error creating document. Reference number '{reference}' already exists.")
        self.invoices[reference] = {
            "referenceNumber": reference,
            "documentType": "Invoice",
            "status": "Hold",
            "customer": customer,
            "project": {"id": str(project)} if project is not None else None,
            "documentDate": body.get("documentDate"),
            "documentDueDate": body.get("documentDueDate"),
            "externalReference": body.get("externalReference"),
            "invoiceText": body.get("invoiceText"),
            "paymentReference": body.get("paymentReference"),
            "customerRefNumber": body.get("customerRefNumber"),
            "creditTerms": {"id": body["creditTermsId"]} if body.get("creditTermsId") else None,
            "currencyId": body.get("currencyId") or "EUR",
            "amount": float(sum(Decimal(str(line["amount"])) for line in stored_lines)),
            # The lines total (reference visma-net-dtos.md 7.2); the simulator computes no VAT.
            "detailTotal": float(sum(Decimal(str(line["amount"])) for line in stored_lines)),
            "detailTotalInCurrency": float(sum(Decimal(str(line["amount"])) for line in stored_lines)),
            "invoiceLines": stored_lines,
            "balance": float(sum(Decimal(str(line["amount"])) for line in stored_lines)),
            "applications": [],
            "createdDateTime": _now(),
            "lastModifiedDateTime": _now(),
        }
        return self._created("customerinvoice", reference)

    # -- customer credit notes ------------------------------------------------------------------
    def list_credit_notes(self, *, body: dict[str, Any], query: dict[str, str]) -> Reply:
        changed = _modified_filter(query)
        rows = [
            row
            for row in self.credit_notes.values()
            if (
                "externalReference" not in query or row.get("externalReference") == query["externalReference"]
            )
            and changed(row)
        ]
        return self._page(_expanded(rows, query), query)

    def get_credit_note(self, *, key: str, body: dict[str, Any], query: dict[str, str]) -> Reply:
        found = self.credit_notes.get(key)
        if not found:
            return Reply(404, error_body(f"Credit note '{key}' not found."))
        return Reply(200, copy.deepcopy(found))

    def create_credit_note(self, *, body: dict[str, Any], query: dict[str, str]) -> Reply:
        """CustomerCreditNoteUpdateDto: ``lines`` (not ``invoiceLines``), positive amounts, and
        ``applicationLines`` naming the invoices it is applied to."""
        check_members(body, dto_fields.CREDIT_NOTE, "CustomerCreditNoteUpdateDto")
        lines = body.get("lines")
        if not isinstance(lines, list) or not lines:
            raise BadRequest("Error creating document. The document has no lines.")
        for number, line in enumerate(lines, start=1):
            if isinstance(line, dict):
                check_members(
                    line, dto_fields.CREDIT_NOTE_LINE, "CustomerCreditNoteLineUpdateDto", f"lines[{number}]."
                )
        customer = self._customer_ref(body.get("customerNumber"), "document")
        applications = []
        for number, application in enumerate(body.get("applicationLines") or [], start=1):
            check_members(
                application,
                dto_fields.APPLICATION_LINE,
                "PaymentLineBaseUpdateDto",
                f"applicationLines[{number}].",
            )
            if application.get("operation") != "Insert" or application.get("documentType") != "Invoice":
                raise BadRequest(
                    f"Error creating document. Application line {number} must insert an Invoice."
                )
            invoice = self.invoices.get(str(application.get("refNbr")))
            if invoice is None:
                raise BadRequest(
                    f"Error creating document. Invoice '{application.get('refNbr')}' cannot be found."
                )
            applications.append({"docType": "Invoice", "refNbr": invoice["referenceNumber"]})
        stored_lines = [self._invoice_line(i, line) for i, line in enumerate(lines, start=1)]
        total = float(sum(Decimal(str(line["amount"])) for line in stored_lines))
        reference = str(self._next_credit_note)
        self._next_credit_note += 1
        self.credit_notes[reference] = {
            "referenceNumber": reference,
            "documentType": "CreditNote",
            "status": "Hold",
            "customer": customer,
            "documentDate": body.get("documentDate"),
            "externalReference": body.get("externalReference"),
            "invoiceText": body.get("invoiceText"),
            "currencyId": body.get("currencyId") or "EUR",
            "amount": total,
            "detailTotal": total,
            "detailTotalInCurrency": total,
            "lines": stored_lines,
            "balance": total,
            "applications": applications,
            "createdDateTime": _now(),
            "lastModifiedDateTime": _now(),
        }
        return self._created("customerCreditNote", reference)

    def _invoice_line(self, number: int, line: dict[str, Any]) -> dict[str, Any]:
        if line.get("operation") != "Insert":
            raise BadRequest(
                f"Error creating document. Line {number}: 'operation' must be the bare string "
                f'"Insert" (got {line.get("operation")!r}).'
            )
        if not line.get("inventoryNumber") and not line.get("description"):
            raise BadRequest(
                f"Error creating document. Line {number} needs an inventoryNumber or a description."
            )
        item = line.get("inventoryNumber")
        if item is not None and str(item) not in self.items:
            # The reference does not say what Visma.net answers; the simulator's wording for the
            # other unknown keys (customer, project, VAT code).
            raise BadRequest(
                f"Error creating document. Line {number}: Inventory item '{item}' cannot be found in the system."
            )
        vat = line.get("vatCodeId")
        if vat is not None and str(vat) not in self.vat_codes:
            raise BadRequest(f"Error creating document. VatCode '{vat}' cannot be found in the system.")
        quantity = _number(line.get("quantity", 1), "quantity")
        price = _number(line.get("unitPriceInCurrency", 0), "unitPriceInCurrency")
        return {
            "lineNumber": number,
            "inventoryNumber": line.get("inventoryNumber"),
            "description": line.get("description"),
            "quantity": float(quantity),
            "unitPriceInCurrency": float(price),
            "vatCodeId": vat,
            "amount": float(quantity * price),
            # Read DTO shapes: the account and unit as sent, the subaccount as its segments.
            "account": {"number": line["accountNumber"]} if line.get("accountNumber") else None,
            "uom": line.get("uom"),
            "subaccount": _segments(line.get("subaccount"), f"Line {number}"),
        }

    # -- payments (the ERP's own work: applied by a test or the demo) -------------------------
    def document(self, reference: str, kind: str = "invoice") -> dict[str, Any]:
        table = self.credit_notes if kind == "credit note" else self.invoices
        found = table.get(str(reference))
        if found is None:
            raise ValueError(f"no {kind} {reference!r}; known: {', '.join(table) or '(none)'}")
        return found

    def pay(
        self, reference: str, amount: float | None = None, *, kind: str = "invoice", on: str | None = None
    ) -> dict[str, Any]:
        """Apply a payment of ``amount`` (None: the whole balance) on ``on`` (a date, default
        today): the document is released if it was not, its balance falls, it closes at 0, and its
        ``lastModifiedDateTime`` moves, as the ERP's application process does."""
        with self.lock:
            row = self.document(reference, kind)
            balance = Decimal(str(row.get("balance", row.get("amount", 0))))
            paid = balance if amount is None else Decimal(str(amount))
            if paid <= 0 or paid > balance:
                raise ValueError(f"a payment must be more than 0 and at most the balance {balance}")
            self._next_payment += 1
            applied = on or datetime.now(UTC).date().isoformat()
            row.setdefault("applications", []).append(
                {
                    "docType": "Payment",
                    "refNbr": str(self._next_payment - 1),
                    "amountPaid": float(paid),
                    "balance": float(balance - paid),
                    "released": True,
                    "voided": False,
                    "applicationDate": f"{applied[:10]}T00:00:00",
                }
            )
            row["balance"] = float(balance - paid)
            row["status"] = "Closed" if balance - paid == 0 else "Open"
            row["lastModifiedDateTime"] = _now()
            return copy.deepcopy(row)

    def touch(self, reference: str, at: str, *, kind: str = "invoice") -> None:
        """Set the document's ``lastModifiedDateTime`` (e.g. back, to test the watermark)."""
        with self.lock:
            self.document(reference, kind)["lastModifiedDateTime"] = at

    # -- background jobs -----------------------------------------------------------------------
    def _job(self, key: str) -> dict[str, Any] | None:
        job = self.jobs.get(key)
        if job is not None and self._clock() - job["created_at"] > self.background_ttl_seconds:
            job["expired"] = True
        return job

    def background_state(self, *, key: str, body: dict[str, Any], query: dict[str, str]) -> Reply:
        job = self._job(key)
        if job is None or job["expired"]:
            return Reply(404, error_body(f"Background request '{key}' not found."))
        state: dict[str, Any] = {
            "id": key,
            "receivedUtc": job["received"],
            "startedUtc": job["received"],
            "originalUri": f"{self.location_host}/v2/customerinvoice",
            "errorMessage": None,
        }
        if job["polls_left"] > 0:
            job["polls_left"] -= 1
            return Reply(200, {**state, "status": "Started", "statusCode": 0, "hasResponseContent": False})
        if job["result"] is None:  # a deferred write is made as the job finishes
            job["result"] = self._run_queued(*job["work"])
        result: Reply = job["result"]
        headers = {name: [value] for name, value in result.headers.items()}
        return Reply(
            200,
            {
                **state,
                "status": "Finished",
                "statusCode": result.status,
                "finishedUtc": _now(),
                "hasResponseContent": result.body is not None,
                "responseHeaders": headers,
                "contentLocation": f"{self.location_host}/v1/background/{key}/content",
            },
        )

    def background_content(self, *, key: str, body: dict[str, Any], query: dict[str, str]) -> Reply:
        job = self._job(key)
        if job is None:
            return Reply(404, error_body(f"Background request '{key}' not found."))
        if job["expired"]:
            return Reply(410, error_body("State for background operation has been removed after 24 hours."))
        result: Reply | None = job["result"]
        if result is None:  # still running: no content yet
            return Reply(404, error_body(f"Background request '{key}' has no content yet."))
        return Reply(200, result.body) if result.body is not None else Reply(204)

    def reset_items(self) -> None:
        """The company's own items again; those created over the API are gone."""
        with self.lock:
            self.items.clear()
            self.items.update(reference_data.default_items())

    def expire_jobs(self) -> None:
        with self.lock:
            for job in self.jobs.values():
                if job["result"] is None:  # 24 hours later a deferred write has long been made
                    job["result"] = self._run_queued(*job["work"])
                job["expired"] = True

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        with self.lock:
            return {
                "customers": copy.deepcopy(list(self.customers.values())),
                "projects": copy.deepcopy(list(self.projects.values())),
                "invoices": copy.deepcopy(list(self.invoices.values())),
                "credit_notes": copy.deepcopy(list(self.credit_notes.values())),
                "items": copy.deepcopy(list(self.items.values())),
            }


#: ``lastModifiedDateTimeCondition`` operators (reference visma-net-dtos.md 0).
_CONDITIONS: dict[str, Callable[[datetime, datetime], bool]] = {
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}
_FILTER_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
)


def _parse_filter_time(text: str) -> datetime:
    for form in _FILTER_FORMATS:
        try:
            return datetime.strptime(text, form)
        except ValueError:
            continue
    raise BadRequest(f"The request is invalid: '{text}' is not a valid lastModifiedDateTime.")


def _modified_filter(query: dict[str, str]) -> Callable[[dict[str, Any]], bool]:
    """``lastModifiedDateTime`` with ``lastModifiedDateTimeCondition``: "must be used together"."""
    value, condition = query.get("lastModifiedDateTime"), query.get("lastModifiedDateTimeCondition")
    if value is None and condition is None:
        return lambda row: True
    if value is None or condition is None:
        raise BadRequest(
            "The request is invalid: lastModifiedDateTime and lastModifiedDateTimeCondition must be used together."
        )
    compare = _CONDITIONS.get(condition)
    if compare is None:
        raise BadRequest(f"The request is invalid: '{condition}' is not a valid condition.")
    bound = _parse_filter_time(value)

    def matches(row: dict[str, Any]) -> bool:
        changed = row.get("lastModifiedDateTime")
        return changed is not None and compare(datetime.fromisoformat(changed), bound)

    return matches


def _expanded(rows: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    """``applications`` only with ``expandApplications=true`` (reference visma-net-dtos.md 7.1)."""
    if (query.get("expandApplications") or "").lower() == "true":
        return rows
    return [{k: v for k, v in row.items() if k != "applications"} for row in rows]
