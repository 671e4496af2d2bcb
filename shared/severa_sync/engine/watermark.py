"""Watermark arithmetic: pure functions, so the rules that prevent lost records are easy to test.

The failures these rules make impossible (incremental-sync-practices.md A.6): a strict ``>`` at the
boundary (we query from ``watermark - overlap``, inclusive), checkpoints in the middle of equal
timestamps (SINCE reads are not ordered, so the watermark moves only when the whole answer was
delivered), rounded-up watermarks (never rounded), state saved after a failure (the engine writes only
after delivery), records changed during the run (the signpost caps the watermark).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from severa_sync.engine.ports import SourceRecord


def query_start(watermark: datetime, overlap: timedelta) -> datetime:
    """Where a read starts: inclusive and ``overlap`` early, because Severa compares to the minute."""
    return watermark - overlap


def signpost(local_now: datetime, server_now: datetime | None) -> datetime:
    """The run's fixed 'now': the earlier of our clock and Severa's (its HTTP Date), skew-safe."""
    return min(local_now, server_now) if server_now is not None else local_now


def since_watermark(
    old: datetime | None,
    delivered_max_change: datetime | None,
    *,
    signpost_at: datetime,
    skew: timedelta,
    has_change_time: bool,
) -> datetime | None:
    """New watermark after a *complete* SINCE read whose every record was delivered or parked.

    ``min(largest change time delivered, signpost - skew)``: with change times (accounts, cases) the
    watermark follows Severa's own clock, so our clock's skew cannot skip records; with nothing
    delivered there is no evidence from Severa's clock and the watermark stays. Entities without a
    change time (hour entries) can only follow the signpost, minus the skew margin.
    """
    cap = signpost_at - skew
    if has_change_time:
        if delivered_max_change is None:
            return old
        candidate = min(delivered_max_change, cap)
    else:
        candidate = cap
    return candidate if old is None or candidate > old else old


def range_watermark(
    old: datetime | None, window_end: datetime, *, signpost_at: datetime, skew: timedelta
) -> datetime | None:
    """New watermark after a fully delivered RANGE window: its end, capped by the signpost."""
    candidate = min(window_end, signpost_at - skew)
    return candidate if old is None or candidate > old else old


class OverlapFilter:
    """Drops what the overlap re-reads: records delivered last run with the same content.

    Bounded: only records changed within the overlap before the new watermark are remembered, at
    most ``limit`` of them, each with a short hash prefix, so the set fits in the watermark item
    (dlt's unbounded ``unique_hashes`` broke its users' state). Past the limit nothing is
    remembered: the targets' content-hash check still skips unchanged records, so the bound costs
    calls, never correctness.
    """

    HASH_CHARS = 12

    def __init__(self, remembered: dict[str, str] | None = None):
        self._seen = dict(remembered or {})

    def is_repeat(self, record: SourceRecord) -> bool:
        return self._seen.get(record.key) == record.content_hash[: self.HASH_CHARS]


class RecentChanges:
    """What the next run's ``OverlapFilter`` needs, collected during a run in bounded memory.

    Only (change time, short hash) per key, pruned as the running maximum change time rises (a
    record older than ``min(max, cap) - overlap`` can never be inside the next run's overlap), and
    given up entirely past a multiple of the limit: a mass update must not keep its records alive.
    """

    def __init__(self, *, overlap: timedelta, cap: datetime, limit: int):
        self._overlap = overlap
        self._cap = cap
        self._limit = limit
        self._recent: dict[str, tuple[datetime, str]] = {}
        self._max: datetime | None = None
        self.overflowed = False

    def add(self, record: SourceRecord) -> None:
        at = record.changed_at
        if at is None or self.overflowed:
            return
        if self._max is None or at > self._max:
            self._max = at
        self._recent[record.key] = (at, record.content_hash[: OverlapFilter.HASH_CHARS])
        if len(self._recent) > 4 * self._limit:
            self._prune()
            if len(self._recent) > 4 * self._limit:
                self.overflowed = True
                self._recent.clear()

    def _prune(self) -> None:
        if self._max is None:
            return
        floor = min(self._max, self._cap) - self._overlap
        self._recent = {key: value for key, value in self._recent.items() if value[0] >= floor}

    def remember(self, new_watermark: datetime | None) -> dict[str, str]:
        """The keys and hashes to store beside ``new_watermark`` (empty when over the limit)."""
        if new_watermark is None or self.overflowed:
            return {}
        horizon = new_watermark - self._overlap
        kept = {key: digest for key, (at, digest) in self._recent.items() if at >= horizon}
        return kept if len(kept) <= self._limit else {}
