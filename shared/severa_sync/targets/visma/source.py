"""VismaSource: ``engine.ports.Source`` over Visma.net, for a type that reads Visma.net (payments).

Each run lists the customer documents changed since the watermark at every path the declaration
names (``lastModifiedDateTime`` with ``lastModifiedDateTimeCondition`` ``>=``, paged, with
``expandApplications``; reference visma-net-dtos.md 7.1), keeps only documents severa-sync created
(the mappings of ``VismaRead.transferred_by``: Severa GUID -> Visma.net number, and the Severa
number that went out as ``externalReference``), and yields each as a ``SourceRecord`` keyed by
the Severa invoice GUID whose content hash is its payment state. ``lastModifiedDateTime`` is the
record's change time, so the engine's watermark rules (overlap, dedupe, signpost cap) apply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from aws_lambda_powertools import Logger

from severa_sync.config import TenantConfig
from severa_sync.datatypes.model import DataType, DisplayLookup, VismaRead
from severa_sync.engine.ports import Found, Lookup, RetryItem, SourceRecord, StateStore, Versions, Window
from severa_sync.errors import CallInfo, ConfigError
from severa_sync.targets.visma.client import VismaClient
from severa_sync.targets.visma.payment_state import PaymentState, state_of

log = Logger(service="severa-sync", child=True)
#: Every mapping ever written (``mappings_delivered_since``).
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
#: The filter's operator, passed literally as Visma's how-to shows (reference visma-net-dtos.md 0).
AT_OR_AFTER = ">="


@dataclass(frozen=True, slots=True)
class Transferred:
    """One document severa-sync created, as the transferring type's mapping remembers it."""

    severa_guid: str
    severa_number: str | None  # the externalReference it was sent with


def filter_time(value: datetime) -> str:
    """``yyyy-MM-ddTHH:mm:ss.FFF`` in UTC, one of the formats the spec accepts (reference 0)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


class VismaSource:
    """The source port over one company's Visma.net, for types with a ``visma_read``."""

    def __init__(
        self,
        client: VismaClient,
        state: StateStore,
        config: TenantConfig,
        *,
        versions: Callable[[], Versions],
    ):
        self.client = client
        self.state = state
        self.config = config
        #: The version gate's Severa versions: the type writes into Severa, whose contract it checks.
        self._versions = versions

    # -- the port ---------------------------------------------------------------------------
    def server_time(self) -> datetime | None:
        return None  # the client keeps no Date header; the signpost is our clock less the skew

    def versions(self) -> Versions:
        return self._versions()

    def last_call(self) -> CallInfo | None:
        return self.client.last_call()

    def forget_last_call(self) -> None:
        self.client.forget_last_call()

    def check_ready(self, data_type: DataType) -> None:
        _read_of(data_type)

    def read(self, data_type: DataType, window: Window) -> Iterator[SourceRecord]:
        read = _read_of(data_type)
        ours = self._transferred(read)
        params = {
            "lastModifiedDateTime": filter_time(window.start),
            "lastModifiedDateTimeCondition": AT_OR_AFTER,
            "expandApplications": "true",
        }
        for kind, path in read.documents:
            foreign = unpaid = 0
            for document in self.client.get_pages(path, params):
                candidates = ours.get(str(document.get("referenceNumber") or ""), [])
                found = next((t for t in candidates if _same_reference(t, document)), None)
                if found is None:
                    foreign += 1  # typed in by hand, or another integration's: never ours to write
                    continue
                record = self._record(data_type, document, kind.value, found)
                if record is None:
                    unpaid += 1
                    continue
                yield record
            if foreign or unpaid:
                log.info(
                    f"Visma.net {kind.value}s changed but not read for Severa: {foreign} not transferred "
                    f"by severa-sync, {unpaid} without a payment state (unreleased or voided)",
                    extra={"not_transferred": foreign, "no_payment_state": unpaid},
                )

    def read_fallback(self, data_type: DataType, window: Window) -> Iterator[SourceRecord]:
        raise ConfigError(f"data type {data_type.name} has no fallback read")

    def read_by_key(self, data_type: DataType, key: str) -> SourceRecord | None:
        """The document the Severa invoice ``key`` became, read again by its ``externalReference``
        (the list read: the single GET may not carry ``applications``, reference 9)."""
        read = _read_of(data_type)
        mapping = self.state.get_mapping(self.config.tenant, read.transferred_by, key)
        if mapping is None:
            return None
        found = Transferred(key, mapping.extra.get("external_reference"))
        params = {"expandApplications": "true"}
        if found.severa_number:
            params["externalReference"] = found.severa_number
        for kind, path in read.documents:
            for document in self.client.get_pages(path, params):
                if str(document.get("referenceNumber")) == mapping.target_key and _same_reference(
                    found, document
                ):
                    return self._record(data_type, document, kind.value, found)
        return None

    def look_up_parked(self, data_type: DataType, item: RetryItem) -> Lookup:
        record = self.read_by_key(data_type, item.key)
        if record is None:
            return Lookup(Found.NOT_FOUND, evidence="no Visma.net document with a payment state found")
        return Lookup(Found.PENDING, record, evidence="read again from Visma.net")

    def read_waiting(
        self, data_type: DataType, limit: int, *, past_size_cap: bool = False
    ) -> Iterator[SourceRecord]:
        return iter(())

    def names(self, lookup: DisplayLookup) -> dict[str, str]:
        return {}

    def acknowledge(self, data_type: DataType, record: SourceRecord) -> str | None:
        return None  # nothing is marked in Visma.net

    # -- helpers ----------------------------------------------------------------------------
    def _transferred(self, read: VismaRead) -> dict[str, list[Transferred]]:
        """Visma.net number -> the Severa invoice, for every document severa-sync created (one
        paged Query of the transferring type's mappings, then batched reads of them)."""
        tenant = self.config.tenant
        keys = self.state.mappings_delivered_since(tenant, read.transferred_by, EPOCH)
        mappings = self.state.get_mappings(tenant, read.transferred_by, keys) if keys else {}
        ours: dict[str, list[Transferred]] = {}
        for guid, m in mappings.items():
            if m.target_key and "external_reference" in m.extra:
                ours.setdefault(m.target_key, []).append(Transferred(guid, m.extra["external_reference"]))
        return ours

    def _record(
        self, data_type: DataType, document: dict[str, object], kind: str, found: Transferred
    ) -> SourceRecord | None:
        state = state_of(
            dict(document), kind=kind, severa_guid=found.severa_guid, severa_number=found.severa_number
        )
        if state is None:
            return None
        return SourceRecord(
            key=found.severa_guid,
            changed_at=state.last_modified,
            display_key=data_type.display_key(state, {}) or found.severa_guid,
            content_hash=state.content_hash,
            payload=state,
        )


def _same_reference(found: Transferred, document: dict[str, object]) -> bool:
    """A number is unique per document kind only; the externalReference it was sent with settles
    which Severa invoice it is (an invoice and a credit note may share a number)."""
    sent = document.get("externalReference")
    return found.severa_number is None or sent is None or str(sent) == found.severa_number


def _read_of(data_type: DataType) -> VismaRead:
    if data_type.visma_read is None:
        raise ConfigError(f"data type {data_type.name} is not read from Visma.net")
    return data_type.visma_read


__all__ = ["PaymentState", "VismaSource", "filter_time"]
