"""Which keys Visma.net already holds, learned with a paged list read instead of one look-up per record.

A record with no mapping used to cost two calls: a look-up (did an earlier attempt, or somebody else,
write it already?) and the POST. The look-up is needed only where the answer can be yes:

- an earlier attempt of severa-sync began creating it (``creations``: the intent written before every
  POST, kept until the mapping is saved), whatever the outcome of that attempt;
- a document under the same key exists that severa-sync did not create: the company's own customers
  on a first run, an invoice an accountant typed in by hand.

The second is what the census answers. Once per document kind and ``FRESH_FOR`` (a warm Lambda
container keeps its adapters between runs), when a record first needs it, one paged list read learns the keys of the documents Visma.net holds: all of them the first
time (a few calls per thousand documents), afterwards only those modified since the last census (the
spec's ``lastModifiedDateTime`` filter), which is where any document that appeared since must be.
The time of the last census is kept in the mapping store (namespace ``visma-census``, keyed by
document kind); deleting that item makes the next census read everything again, as ``severa-sync
state forget`` and ``state rewind`` do (``start_over``).

The filter reaches back ``REACH_BACK`` before the last census: the spec does not say in which time
zone ``lastModifiedDateTime`` is kept, and a day covers every zone and any clock skew.

What the census cannot see: a document created in Visma.net by someone else before an earlier
census, under the key of a Severa record that reaches severa-sync only later. For customers and
projects Visma.net refuses the POST of a key it holds, and the target then takes the look-up path
(``VismaTarget``); for invoices it would be created beside the foreign one (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from collections.abc import Mapping as Params
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from severa_sync.engine.ports import Mapping, StateStore
from severa_sync.timeutil import utcnow

logger = Logger(service="severa-sync", child=True)

CENSUS = "visma-census"
#: How far before the last census the next one reads (the time zone of lastModifiedDateTime is unstated).
REACH_BACK = timedelta(days=1)
#: How long a census answers before it is taken again (new documents appear in Visma.net meanwhile).
FRESH_FOR = timedelta(minutes=10)
#: The spec's formats for the date filters include ``yyyy-MM-dd HH:mm:ss``.
FILTER_FORMAT = "%Y-%m-%d %H:%M:%S"


class Pages(Protocol):
    """``VismaClient.get_pages``: every item of a paged list."""

    def get_pages(self, path: str, params: Params[str, Any] | None = None) -> Iterator[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class Listing:
    """How a kind of Visma.net document is listed, and which member carries the key severa-sync
    finds it by."""

    kind: str  # "customer", "project", "invoice", "credit note"
    path: str  # the paged list endpoint
    key_member: str


CUSTOMERS = Listing("customer", "/v1/customer", "number")
PROJECTS = Listing("project", "/v1/project", "projectID")
INVOICES = Listing("invoice", "/v1/customerinvoice", "externalReference")
CREDIT_NOTES = Listing("credit note", "/v1/customerCreditNote", "externalReference")
LISTINGS = (CUSTOMERS, PROJECTS, INVOICES, CREDIT_NOTES)


def start_over(state: StateStore, tenant: str) -> None:
    """The next census of every kind reads everything: after mappings were forgotten (a Visma.net
    restore) the documents behind them may be older than the last census reaches back."""
    state.forget_mappings(tenant, CENSUS, [listing.kind for listing in LISTINGS])


class KeyCensus:
    """Keys Visma.net holds, per document kind, read at most once per invocation."""

    def __init__(
        self,
        pages: Pages,
        state: StateStore,
        tenant: str,
        clock: Callable[[], datetime] = utcnow,
    ):
        self._pages = pages
        self._state = state
        self._tenant = tenant
        self._clock = clock
        self._held: dict[str, tuple[datetime, set[str]]] = {}  # kind -> (taken at, keys)

    def holds(self, listing: Listing, key: str) -> bool:
        """May Visma.net hold a document of this kind under ``key``? (Read on first use.)"""
        taken = self._held.get(listing.kind)
        if taken is None or self._clock() - taken[0] > FRESH_FOR:
            taken = self._held[listing.kind] = (self._clock(), self._take(listing))
        return key in taken[1]

    def learned(self, listing: Listing, key: str) -> None:
        """A document this invocation created (or found) under ``key``: held from now on."""
        if listing.kind in self._held:
            self._held[listing.kind][1].add(key)

    def _take(self, listing: Listing) -> set[str]:
        started = self._clock()
        last = self._state.get_mapping(self._tenant, CENSUS, listing.kind)
        since = _parse(last.target_key) if last is not None else None
        params: dict[str, str] = {}
        if since is not None:
            params = {
                "lastModifiedDateTime": (since - REACH_BACK).strftime(FILTER_FORMAT),
                "lastModifiedDateTimeCondition": ">=",
            }
        held = {
            str(item[listing.key_member]).strip()
            for item in self._pages.get_pages(listing.path, params)
            if item.get(listing.key_member) not in (None, "")
        }
        # Kept only once the whole list was read: a census cut short is taken again next time.
        self._state.put_mapping(
            self._tenant, CENSUS, listing.kind, Mapping(started.isoformat(), "", started, {})
        )
        logger.debug(  # an adapter detail, not a progress line; the call itself is in the call log
            f"Visma.net {listing.kind} keys learned with a list read: {len(held)} "
            + ("in all" if since is None else "modified since the last census"),
            extra={"document": listing.kind, "keys_held": len(held), "census_since": params or None},
        )
        return held


def _parse(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None  # a hand-edited item that is not a time: read everything, as on a first run
