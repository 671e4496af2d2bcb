"""The run lock: one invocation's lease on one data type of one tenant.

A lease belongs to an invocation, not to a run id: Step Functions retries a Lambda service error
while the first attempt may still run, and both attempts carry the same run id. Each invocation
makes its own token (the Lambda request id, for people, plus a random part, so a reused request id
still cannot pass as another holder).

The lease covers the invocation's whole remaining life (Lambda kills it by then), so a live
invocation never loses its lock to an expiry; where there is no deadline (a local run) the lease is
renewed as the run goes, and a run that finds it taken stops (``LockLost``) instead of writing on.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import datetime

from severa_sync.engine.ports import StateStore
from severa_sync.errors import LockLost

#: Seconds a lease outlasts the invocation's remaining time (clock drift, the final state writes).
LEASE_MARGIN_SECONDS = 60


class LockBusy(Exception):
    """Another invocation holds the lease: this one ends ``skipped`` (``error_code`` lock_busy)."""


def new_token(invocation_id: str | None) -> str:
    return f"{invocation_id or 'local'}:{uuid.uuid4().hex[:12]}"


class Lease:
    def __init__(
        self,
        state: StateStore,
        tenant: str,
        data_type: str,
        *,
        run_id: str,
        invocation_id: str | None,
        configured_seconds: int,
        remaining_seconds: Callable[[], float],
        clock: Callable[[], datetime],
    ):
        self.state, self.tenant, self.data_type, self.run_id = state, tenant, data_type, run_id
        self.token = new_token(invocation_id)
        self.configured_seconds = configured_seconds
        self.remaining_seconds = remaining_seconds
        self.clock = clock
        self.seconds = configured_seconds
        self.renewed_at: datetime | None = None

    def _length(self) -> int:
        left = self.remaining_seconds()
        if math.isfinite(left):
            return max(self.configured_seconds, math.ceil(left) + LEASE_MARGIN_SECONDS)
        return self.configured_seconds

    def acquire(self) -> bool:
        self.seconds = self._length()
        taken = self.state.acquire_lock(
            self.tenant, self.data_type, self.token, self.seconds, run_id=self.run_id
        )
        if taken:
            self.renewed_at = self.clock()
        return taken

    def keep(self) -> None:
        """Called at every batch and checkpoint: renews once half the lease has passed; raises
        ``LockLost`` when another invocation holds it now."""
        if self.renewed_at is None:
            return
        if (self.clock() - self.renewed_at).total_seconds() < self.seconds / 2:
            return
        self.seconds = self._length()
        if not self.state.renew_lock(self.tenant, self.data_type, self.token, self.seconds):
            self.renewed_at = None
            raise LockLost(
                f"the {self.data_type} lock of run {self.run_id} expired and another invocation holds "
                "it now; this invocation stops without writing more (raise engine.lock_lease_seconds "
                "if runs outlive it)"
            )
        self.renewed_at = self.clock()

    def release(self) -> None:
        if self.renewed_at is not None:
            self.state.release_lock(self.tenant, self.data_type, self.token)
