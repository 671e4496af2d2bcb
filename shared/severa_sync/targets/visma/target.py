"""VismaTarget: accounts, cases, products and invoices (and credit notes) into Visma.net Financials,
each exactly once.

The mapping store (``StateStore`` get/put_mapping) keeps Severa GUID -> Visma.net key and the content
hash last sent. A record whose hash is unchanged is skipped; one without a mapping is looked up in
Visma.net first (a previous run may have written it and stopped before saving the mapping) and only
then created; one with a mapping is updated. Invoices are documents: once in Visma.net they are never
changed by the sync (it may already be released), only re-linked. A Severa credit note
(``Invoice.IsCreditNote``) is Visma.net's credit-note document, created and looked up at its own
endpoints by the same rules, and applied to the invoice it credits when severa-sync transferred it.
A Severa product is a non-stock item keyed by its code; an invoice row is sent with the item of the
product it bills, which must be in Visma.net first (the row's item: ``_row_items``).

An invoice queued on the background API may still be written after the invocation that sent it has
ended, and until then no look-up finds it. Its job is kept in the state store (``StateStore.
remember_job``, a ``PendingJob`` keyed by the invoice's ``externalReference``) from the moment it is
queued until the invoice is linked; the next attempt asks the job before it looks up or sends anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools import Logger

from severa_sync import registry
from severa_sync.config import TenantConfig
from severa_sync.datatypes.model import RowReference, VismaDocument, VismaExport
from severa_sync.engine.ports import (
    Delivery,
    Dependencies,
    Mapping,
    PendingJob,
    SourceRecord,
    StateStore,
    Window,
)
from severa_sync.errors import (
    CallInfo,
    ChangedDuringTransfer,
    ConfigError,
    Disposition,
    MappingError,
    OutcomeUnknown,
    SyncError,
    TargetRejected,
    TimeBudgetSpent,
)
from severa_sync.redaction import redact
from severa_sync.registry import DataType
from severa_sync.targets.visma import adoption, census, customers
from severa_sync.targets.visma import mapping as visma_mapping
from severa_sync.targets.visma.background import look_at_job
from severa_sync.targets.visma.census import KeyCensus, Listing
from severa_sync.targets.visma.client import VismaClient
from severa_sync.targets.visma.creations import Creations
from severa_sync.targets.visma.wire import location_key
from severa_sync.timeutil import utcnow

logger = Logger(service="severa-sync", child=True)

Delivered = tuple[str, dict[str, str]]  # Visma.net key, Mapping.extra


@dataclass(frozen=True, slots=True)
class _Document:
    """A Severa invoice's kind of Visma.net document: where it is created and looked up."""

    noun: str
    create_path: str
    listing: Listing
    lines: str  # the DTO's array of lines

    @property
    def list_path(self) -> str:
        return self.listing.path


@dataclass(frozen=True, slots=True)
class _Keyed:
    """A kind of Visma.net master data found under the Severa record's own key."""

    noun: str
    listing: Listing  # where it is listed (the census) and created
    log_key: str  # the log field naming the key

    def path(self, key: str) -> str:
        return f"{self.listing.path}/{quote(key, safe='')}"


CUSTOMER = _Keyed("customer", census.CUSTOMERS, "customer_number")
PROJECT = _Keyed("project", census.PROJECTS, "project_id")
ITEM = _Keyed("item", census.ITEMS, "inventory_number")

INVOICE = _Document("invoice", "/v2/customerinvoice", census.INVOICES, "invoiceLines")
#: ``Invoice.IsCreditNote``: Visma.net's own credit-note document, with the same exactly-once rules.
CREDIT_NOTE = _Document("credit note", "/v2/customerCreditNote", census.CREDIT_NOTES, "lines")

#: How long Visma.net keeps a background job's state (Visma.net background API documentation).
JOB_STATE_KEPT = timedelta(hours=24)


class VismaTarget:
    """``engine.ports.Target`` for the Visma.net data types of the registry."""

    def __init__(
        self,
        client: VismaClient,
        state: StateStore,
        tenant: str,
        config: TenantConfig,
        dependencies: Dependencies,
    ):
        self._client = client
        self._state = state
        self._tenant = tenant
        self._config = config
        self._dependencies = dependencies
        self._known_dependencies: dict[tuple[str, str], str] = {}
        #: Inventory numbers found in Visma.net this invocation (invoice rows naming a code only).
        self._known_items: set[str] = set()
        self._creations = Creations(state, tenant)
        self._census = KeyCensus(client, state, tenant)

    # -- ports.Target --------------------------------------------------------------------------
    def deliver(self, data_type: DataType, records: Sequence[SourceRecord]) -> Delivery:
        handlers: dict[VismaDocument, Callable[[DataType, dict[str, Any], Mapping | None], Delivered]] = {
            VismaDocument.CUSTOMER: self._deliver_account,
            VismaDocument.PROJECT: self._deliver_case,
            VismaDocument.INVOICE: self._deliver_invoice,
            VismaDocument.ITEM: self._deliver_product,
        }
        export = data_type.export
        if not isinstance(export, VismaExport) or export.document not in handlers:
            raise ConfigError(f"the Visma.net target does not take {data_type.name}")
        handler = handlers[export.document]
        delivery = Delivery()
        mappings = self._state.get_mappings(self._tenant, data_type.name, [r.key for r in records])
        self._creations.prefetch(data_type.name, [r.key for r in records if r.key not in mappings])
        self._prefetch_dependencies(data_type, records)
        for record in records:
            known = mappings.get(record.key)
            if known is not None and known.content_hash == record.content_hash:
                delivery.skipped.append(record)
                delivery.target_keys[record.key] = known.target_key
                continue
            self._client.forget_last_call()
            try:
                key, extra = handler(data_type, visma_mapping.fields_of(record), known)
            except TimeBudgetSpent as spent:  # time or quota: what is done so far counts
                delivery.stopped = spent
                break
            except SyncError as exc:
                if exc.disposition is not Disposition.PER_RECORD:
                    raise  # authentication, Visma.net down: the whole target is unusable
                delivery.failed.append((record, exc))
                continue
            self._state.put_mapping(
                self._tenant,
                data_type.name,
                record.key,
                Mapping(
                    target_key=key,
                    content_hash=record.content_hash,
                    delivered_at=utcnow(),
                    # The Severa number an operator knows it by (severa-sync state mappings).
                    extra={**extra, "display_key": record.display_key},
                ),
            )
            delivery.delivered.append(record)
            self._creations.end(data_type.name, record.key)  # its mapping is saved: no longer in flight
            delivery.target_keys[record.key] = key
        return delivery

    def flush(self, data_type: DataType, window: Window | None) -> None:
        """Nothing buffered: every write is made, and its mapping saved, as the record is delivered."""

    def last_call(self) -> CallInfo | None:
        return self._client.last_call()

    # -- dependencies --------------------------------------------------------------------------
    def _prefetch_dependencies(self, data_type: DataType, records: Sequence[SourceRecord]) -> None:
        """One batched mapping read per type this batch refers to (an invoice's customer and case)."""
        wanted: dict[str, set[str]] = {}
        for record in records:
            fields = visma_mapping.fields_of(record)
            for reference in data_type.references:
                if fields.get(reference.member):
                    wanted.setdefault(reference.data_type, set()).add(str(fields[reference.member]))
        for kind, guids in wanted.items():
            missing = [g for g in guids if (kind, g) not in self._known_dependencies]
            if missing:
                for guid, found in self._state.get_mappings(self._tenant, kind, missing).items():
                    self._known_dependencies[(kind, guid)] = found.target_key

    def _dependency(
        self, data_type: DataType, member: str, fields: dict[str, Any], record_name: str
    ) -> str | None:
        """The Visma.net key of the record ``member`` refers to (declared in ``data_type.references``),
        synced on demand when it is not there yet; None for an empty optional reference."""
        reference = next(r for r in data_type.references if r.member == member)
        guid = fields.get(member)
        if not guid:
            if not reference.required:
                return None
            field = f"{data_type.entity}.{member}"
            raise MappingError(f"{record_name}: {field} is empty", detail={"field": field})
        kind = reference.data_type
        cache_key = (kind, str(guid))
        if cache_key not in self._known_dependencies:
            found = self._state.get_mapping(self._tenant, kind, str(guid))
            if found is None:
                logger.info(
                    f"{record_name} needs {registry.get(kind).noun.lower()} {guid}, not in Visma.net yet: "
                    "syncing it first",
                    extra={"dependency": kind, "dependency_guid": str(guid)},
                )
                self._known_dependencies[cache_key] = self._dependencies.key_of(kind, str(guid))
            else:
                self._known_dependencies[cache_key] = found.target_key
        return self._known_dependencies[cache_key]

    # -- master data: customers, projects, items ----------------------------------------------
    def _deliver_keyed(
        self,
        data_type: DataType,
        fields: dict[str, Any],
        known: Mapping | None,
        kind: _Keyed,
        key: str,
        update: dict[str, Any],
        create: Callable[[], dict[str, Any]],
        mismatch: Callable[[dict[str, Any]], list[str]],
        found_name: Callable[[dict[str, Any]], str],
    ) -> str:
        """A document Visma.net keys by the Severa record's own key (customer number, project id,
        inventory number): a PUT when mapped (none when ``update`` is empty), else adopted when one
        may be there and is this record's, else created, exactly once (``_adopt_or_create``)."""
        if known is not None:
            if not update:
                return known.target_key  # nothing severa-sync owns changed: no call
            if self._client.put(kind.path(known.target_key), update):
                return known.target_key
            raise TargetRejected(
                f"{kind.noun} {known.target_key} no longer exists in Visma.net (deleted there?)",
                call=self._client.last_call(),
            )
        path = kind.path(key)

        def adopted() -> str | None:
            found = self._client.get(path)
            if found is None:
                return None
            document = adoption.document(found, f"{kind.noun} {key}")
            self._adopt(data_type, fields, key, lambda: mismatch(document), found_name(document))
            if not self._client.put(path, update):
                return None
            logger.info(
                f"{kind.noun} already in Visma.net: adopted and updated, not created",
                extra={kind.log_key: key},
            )
            return key

        return self._adopt_or_create(
            data_type,
            fields,
            kind.listing,
            key,
            adopted,
            lambda: self._create(
                data_type.name,
                fields,
                key,
                kind.listing.path,
                create(),
                lookup=lambda: key if self._client.get(path) is not None else None,
                describe=f"{kind.noun} {key}",
            ),
        )

    def _deliver_account(
        self, data_type: DataType, fields: dict[str, Any], known: Mapping | None
    ) -> Delivered:
        number = customers.customer_number(fields)
        # Only the owned fields that changed since last sent (customers.py); all of them when adopted.
        update, sent = customers.update_dto(fields, self._config, known.extra if known is not None else None)
        if known is not None and known.target_key != number:
            logger.warning(
                "Severa account number changed; Visma.net keeps its customer number",
                extra={"customer_number": known.target_key, "severa_number": number},
            )
        key = self._deliver_keyed(
            data_type,
            fields,
            known,
            CUSTOMER,
            number,
            update,
            lambda: customers.create_dto(fields, self._config),
            lambda found: adoption.customer_mismatch(found, fields),
            lambda found: f"customer {number} {str(found.get('name') or '')!r}",
        )
        return key, sent

    def _deliver_case(self, data_type: DataType, fields: dict[str, Any], known: Mapping | None) -> Delivered:
        pid = visma_mapping.project_id(fields)
        customer = self._dependency(data_type, "AccountGUID", fields, f"case {pid}") or ""
        key = self._deliver_keyed(
            data_type,
            fields,
            known,
            PROJECT,
            pid,
            visma_mapping.project_dto(fields, customer, self._config, create=False),
            lambda: visma_mapping.project_dto(fields, customer, self._config, create=True),
            lambda found: adoption.project_mismatch(found, customer, fields),
            lambda found: f"project {pid} (customer {adoption.customer_of(found) or 'none'})",
        )
        return key, {"customer": customer}

    def _deliver_product(
        self, data_type: DataType, fields: dict[str, Any], known: Mapping | None
    ) -> Delivered:
        number = visma_mapping.item_number(fields)
        key = self._deliver_keyed(
            data_type,
            fields,
            known,
            ITEM,
            number,
            visma_mapping.item_dto(fields, self._config, create=False),
            lambda: visma_mapping.item_dto(fields, self._config, create=True),
            lambda found: adoption.item_mismatch(found, fields),
            lambda found: f"item {number} {str(found.get('description') or '')!r}",
        )
        return key, {}

    # -- invoices ------------------------------------------------------------------------------
    def _deliver_invoice(
        self, data_type: DataType, fields: dict[str, Any], known: Mapping | None
    ) -> Delivered:
        document = CREDIT_NOTE if fields.get("IsCreditNote") else INVOICE
        reference = visma_mapping.external_reference(fields)
        name = f"{document.noun} {reference}"
        extra = {"external_reference": reference}
        if known is not None:
            # Never silently: the Visma.net document keeps the transferred version, so the Severa
            # edit must reach a person before the invoice may be marked transferred.
            raise ChangedDuringTransfer(
                f"{name} changed in Severa after it was transferred; Visma.net {document.noun} "
                f"{known.target_key} keeps the transferred version. Correct it in Visma.net, then set the "
                "Severa status by hand",
                call=self._client.last_call(),
                detail={"reference_number": known.target_key},
            )
        # Mapping problems first (no point syncing dependencies for an invoice that cannot go).
        if document is CREDIT_NOTE:
            credited = self._credited_invoice(data_type, fields, name)
            dto = visma_mapping.credit_note_dto(
                fields, customer="", project=None, credited=credited, config=self._config
            )
        else:
            dto = visma_mapping.invoice_dto(fields, customer="", project=None, config=self._config)
        dto["customerNumber"] = self._dependency(data_type, "AccountGUID", fields, name)
        project = self._dependency(data_type, "MainCaseGUID", fields, name)
        if project is not None:
            dto["project"] = project
        self._row_items(data_type, fields, dto[document.lines], name)
        created_by_job = self._settle_pending_job(reference, name, document)
        if created_by_job is not None:
            self._creations.settled_elsewhere(data_type.name, str(fields.get("GUID")))
            return created_by_job, extra
        existing = (
            self._adoptable_invoice(data_type, fields, reference, dto, document)
            if self._may_exist(data_type, fields, document.listing, reference)
            else None
        )
        if existing is not None:
            logger.info(
                f"{name} already in Visma.net (found by externalReference): not created again",
                extra=redact({"reference_number": existing}),
            )
            return existing, extra
        background = len(dto[document.lines]) >= self._config.visma.background_threshold_lines
        queued: list[str] = []

        def remember(job_id: str) -> None:
            queued.append(job_id)
            self._remember_job(reference, job_id)

        key = self._create(
            data_type.name,
            fields,
            reference,
            document.create_path,
            dto,
            lookup=lambda: self.find_document(document, reference),
            background=background,
            describe=name,
            on_accepted=remember,
        )
        if queued:
            self._forget_job(reference)  # linked: nothing is pending any more
        self._census.learned(document.listing, reference)
        return key, extra

    # -- the row's item -------------------------------------------------------------------------
    def _row_items(
        self, data_type: DataType, fields: dict[str, Any], lines: list[dict[str, Any]], name: str
    ) -> None:
        """Each line's ``inventoryNumber``, made sure to be an item in Visma.net (else the invoice is
        parked with a ``MappingError`` naming the row's item: code and name):

        - a row billing products (``InvoiceRow.ProductGUIDs``): the item of its product, by the
          products' mappings, synced on demand when it is not there yet. Several products with
          different items: the one whose code the row shows (``articleIdentifier``), else the
          default item (logged; the line's description keeps the row's text);
        - a row naming a code only (``articleIdentifier``): that item, which must exist;
        - a row with neither: ``invoices.default_inventory_number`` (checked by ``severa-sync check``).
        """
        references = list(self._item_references(data_type))
        if not references:
            return
        rows = fields.get(references[0].rows)
        for index, (row, line) in enumerate(zip(rows or [], lines, strict=False), start=1):
            code, article = visma_mapping.row_article(row)
            what = f"{name} row {index}: item {code or '(no code)'} {article!r}"
            guids = [str(g) for ref in references for g in (row.get(ref.member) or []) if g]
            if guids:
                kind = references[0].data_type
                items = list(dict.fromkeys(self._product_item(kind, guid, what) for guid in guids))
                if len(items) == 1 or code in items:
                    line["inventoryNumber"] = items[0] if len(items) == 1 else code
                    continue
                logger.warning(
                    f"{name} row {index} bills several products with different items; sent with the "
                    "default item",
                    extra={"inventory_numbers": items},
                )
                line["inventoryNumber"] = self._config.invoices.default_inventory_number
            elif code:
                self._check_item(code, what)
                line["inventoryNumber"] = code

    @staticmethod
    def _item_references(data_type: DataType) -> Iterator[RowReference]:
        """The row references whose records are Visma.net items (an invoice row's products)."""
        for reference in data_type.row_references:
            export = registry.get(reference.data_type).export
            if isinstance(export, VismaExport) and export.document is VismaDocument.ITEM:
                yield reference

    def _product_item(self, kind: str, guid: str, what: str) -> str:
        cache_key = (kind, guid)
        if cache_key not in self._known_dependencies:
            found = self._state.get_mapping(self._tenant, kind, guid)
            if found is not None:
                self._known_dependencies[cache_key] = found.target_key
            else:
                logger.info(
                    f"{what} needs {registry.get(kind).noun.lower()} {guid}, not in Visma.net yet: "
                    "syncing it first",
                    extra={"dependency": kind, "dependency_guid": guid},
                )
                try:
                    self._known_dependencies[cache_key] = self._dependencies.key_of(kind, guid)
                except SyncError as exc:
                    if exc.disposition is not Disposition.PER_RECORD:
                        raise  # Visma.net or Severa unusable: the whole run stops, nothing parked
                    raise MappingError(
                        f"{what} (Severa {registry.get(kind).noun.lower()} {guid}) is not in Visma.net "
                        f"and could not be transferred: {exc.message}",
                        call=exc.call,
                        detail={"severa_guid": guid},
                    ) from None
        return self._known_dependencies[cache_key]

    def _check_item(self, number: str, what: str) -> None:
        """The row names an item by code and no product: it must be an item of the company."""
        if number in self._known_items or self._census.holds(census.ITEMS, number):
            return  # the census lists every item the first time, recently modified ones later
        if self._client.get(ITEM.path(number)) is None:
            raise MappingError(
                f"{what} is not an item in Visma.net: create the item there (or transfer the Severa "
                "product of that code); the invoice is tried again on every run",
                call=self._client.last_call(),
                detail={"inventory_number": number},
            )
        self._known_items.add(number)

    def _credited_invoice(self, data_type: DataType, fields: dict[str, Any], name: str) -> str | None:
        """The Visma.net reference number of the invoice a credit note credits, when Severa names it
        (``Invoice.ReimburseInvoiceGUID``) and severa-sync transferred it; else None (not linked)."""
        guid = fields.get("ReimburseInvoiceGUID")
        if not guid:
            return None
        credited = self._state.get_mapping(self._tenant, data_type.name, str(guid))
        if credited is None:
            logger.info(
                f"{name} credits Severa invoice {guid}, which severa-sync did not transfer: sent unlinked",
                extra={"credited_invoice_guid": str(guid)},
            )
            return None
        return credited.target_key

    def _settle_pending_job(self, reference: str, name: str, document: _Document) -> str | None:
        """Ask the background job an earlier attempt left behind, once, before any look-up or POST.

        Still running, unreadable, or unknown to Visma.net within the 24 hours it keeps job states:
        ``OutcomeUnknown`` (parked; a POST now could make a second invoice when both jobs finish).
        Finished 2xx: the invoice it created (its ``Location``, else the look-up). Failed, ended
        otherwise, or gone after 24 hours (long finished): forgotten, and the caller's look-up
        decides whether the invoice is sent.
        """
        pending = self._state.pending_job(self._tenant, reference)
        if pending is None:
            return None
        job_id = pending.job_id
        detail = {"background_id": job_id}
        look = look_at_job(self._client, job_id)
        if look.gone:
            if utcnow() - pending.queued_at < JOB_STATE_KEPT:
                raise OutcomeUnknown(
                    f"{name}: Visma.net does not know background job {job_id} (404) although it keeps "
                    "job states for 24 hours; not sent again before that: parked, checked again on "
                    "the next run",
                    call=self._client.last_call(),
                    detail=detail,
                )
            logger.warning(
                f"{name}: background job {job_id} is older than Visma.net keeps job states; the "
                "look-up decides whether it is sent",
                extra=detail,
            )
            self._forget_job(reference)
            return None
        outcome = look.outcome
        if outcome is None:
            raise OutcomeUnknown(
                f"{name}: Visma.net background job {job_id} that creates it is still running; not "
                "sent again while it runs: parked, the job is checked again on the next run",
                call=self._client.last_call(),
                detail=detail,
            )
        if outcome.status is not None and 200 <= outcome.status < 300:
            key = location_key(outcome.location) or self.find_document(document, reference)
            if key is None:
                raise OutcomeUnknown(
                    f"{name}: Visma.net background job {job_id} finished ({outcome.status}) but named "
                    "no key and the look-up does not find the invoice yet: parked, checked again on "
                    "the next run",
                    call=outcome.call,
                    detail=detail,
                )
            logger.info(
                f"{name} was created by an earlier background job: linked, not created again",
                extra=redact({"reference_number": key, **detail}),
            )
            self._forget_job(reference)
            return key
        logger.warning(
            f"{name}: the earlier background job ended without creating it; looked up before it is "
            "sent again",
            extra=redact({"status": outcome.status, "reason": outcome.message, **detail}),
        )
        self._forget_job(reference)
        return None

    def _remember_job(self, reference: str, job_id: str) -> None:
        """The background job writing this invoice, kept until the invoice is linked."""
        self._state.remember_job(self._tenant, PendingJob(reference, job_id, utcnow()))

    def _forget_job(self, reference: str) -> None:
        self._state.forget_job(self._tenant, reference)

    # -- look-ups only where a document may exist (census.py) -----------------------------------
    def _may_exist(self, data_type: DataType, fields: dict[str, Any], listing: Listing, key: str) -> bool:
        """Whether a document may already be under ``key``: an earlier attempt began creating it, or
        the census says Visma.net holds the key. Otherwise a look-up could only answer "no"."""
        return self._creations.begun(data_type.name, str(fields.get("GUID"))) or self._census.holds(
            listing, key
        )

    def _adopt_or_create(
        self,
        data_type: DataType,
        fields: dict[str, Any],
        listing: Listing,
        key: str,
        adopted: Callable[[], str | None],
        create: Callable[[], str],
    ) -> str:
        """Adopt the document under ``key`` if one may be there and is this record's, else create it.

        Customers and projects have unique keys: a POST Visma.net refuses although the census saw no
        such key (created by someone since) takes the look-up path after all, one call more."""
        looked_up = self._may_exist(data_type, fields, listing, key)
        if looked_up:
            found = adopted()
            if found is not None:
                return found
        try:
            created = create()
        except TargetRejected:
            if looked_up:
                raise
            found = adopted()
            if found is None:
                raise
            return found
        self._census.learned(listing, key)
        return created

    # -- adoption (what it accepts: targets.visma.adoption, docs/operations.md) ------------------
    def _adopt(
        self,
        data_type: DataType,
        fields: dict[str, Any],
        key: str,
        mismatch: Callable[[], list[str]],
        document_name: str,
    ) -> None:
        """A document found under ``key`` with no mapping: ours (severa-sync began creating it) or
        matching by the rule, else ``ForeignDocument`` (parked; the document is not touched)."""
        record = f"{data_type.noun.lower()} {key}"
        if self._creations.ours(data_type.name, str(fields.get("GUID")), key):
            logger.info(f"{record}: found the {document_name} severa-sync created; its mapping is saved now")
            return
        reasons = mismatch()
        if reasons:
            raise adoption.foreign(record, document_name, reasons, {"severa_key": key, "visma_key": key})

    def _adoptable_invoice(
        self,
        data_type: DataType,
        fields: dict[str, Any],
        reference: str,
        dto: dict[str, Any],
        document: _Document,
    ) -> str | None:
        """The reference number of the Visma.net invoice carrying ``reference`` that is this one."""
        found = self.documents_carrying(document, reference)
        if not found:
            return None
        ours = self._creations.ours(data_type.name, str(fields.get("GUID")), reference)
        verdicts = [(invoice, adoption.invoice_mismatch(invoice, dto)) for invoice in found]
        matching = [invoice for invoice, reasons in verdicts if not reasons]
        if matching or ours:
            chosen = (matching or found)[0]
            return str(chosen["referenceNumber"])
        first, reasons = verdicts[0]
        raise adoption.foreign(
            f"{document.noun} {reference}",
            f"{document.noun} {first['referenceNumber']} (customer {adoption.customer_of(first) or 'none'})",
            reasons,
            {"severa_key": reference, "visma_key": str(first["referenceNumber"])},
        )

    def _create(
        self,
        data_type: str,
        fields: dict[str, Any],
        found_by: str,
        path: str,
        dto: dict[str, Any],
        **kwargs: Any,
    ) -> str:
        """POST with the creation written down first (``creations``): a look-up after a lost answer or
        a died run then knows the document is ours. A refused POST leaves nothing in flight."""
        guid = str(fields.get("GUID"))
        self._creations.begin(data_type, guid, found_by)
        try:
            return self._client.create(path, dto, **kwargs)
        except TargetRejected:
            self._creations.end(data_type, guid)
            raise

    def documents_carrying(self, document: _Document, external_reference: str) -> list[dict[str, Any]]:
        """Every Visma.net document of this kind whose ``externalReference`` is this one."""
        return [
            item
            for item in self._client.get_pages(document.list_path, {"externalReference": external_reference})
            # A filter Visma.net ignored would return every document: check each row.
            if str(item.get("externalReference")) == external_reference and item.get("referenceNumber")
        ]

    def find_document(self, document: _Document, external_reference: str) -> str | None:
        """Visma.net reference number of the document carrying this ``externalReference``, if any."""
        matches = [
            str(item["referenceNumber"]) for item in self.documents_carrying(document, external_reference)
        ]
        if len(matches) > 1:
            logger.warning(
                f"several Visma.net {document.noun}s carry the same externalReference; using the first",
                extra=redact({"external_reference": external_reference, "reference_numbers": matches}),
            )
        return matches[0] if matches else None
