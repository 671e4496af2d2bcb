"""The error taxonomy every adapter raises into.

The engine never inspects exception text: it looks at ``Disposition`` only. Three dispositions
follow Severa's integration guidelines and MeltanoLabs/tap-github's retriable/fatal split:

- ``STOP``: the run cannot do anything useful (bad credentials, schema change, bad config, quota
  spent, target down). Checkpoint what was delivered, alert, end the run.
- ``RETRY_LATER``: Severa is unavailable (maintenance, 503, timeouts). The handler returns it so
  the Step Functions machine waits and calls again.
- ``PER_RECORD``: this record cannot go (validation, mapping, a target's rejection). Park it in the
  retry set and continue with the others.

Every error can carry the ``CallInfo`` of the API call it happened in, so a log line can show
"the previous call to the API and its parameters" with secrets already redacted.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from severa_sync.redaction import MASK, redact


class Disposition(enum.StrEnum):
    STOP = "stop"
    RETRY_LATER = "retry_later"
    PER_RECORD = "per_record"


REDACTED = MASK


@dataclass(frozen=True, slots=True)
class CallInfo:
    """One API call as it may appear in a log line: never holds a secret."""

    system: str  # "severa" | "visma" | "s3" | "dynamodb"
    operation: str  # e.g. "ICustomer/GetCustomersChangedSince" or "POST /v2/customerinvoice"
    params: dict[str, Any] = field(default_factory=dict)
    status: int | None = None  # HTTP status where there is one
    duration_ms: int | None = None

    def as_log(self) -> dict[str, Any]:
        out: dict[str, Any] = {"system": self.system, "operation": self.operation, "params": self.params}
        if self.status is not None:
            out["status"] = self.status
        if self.duration_ms is not None:
            out["duration_ms"] = self.duration_ms
        return out


class SyncError(Exception):
    """Base of every classified error. Subclasses fix ``disposition`` and ``code``."""

    disposition: Disposition = Disposition.STOP
    code: str = "sync_error"
    #: Alert kind raised when this error stops a run (None: no alert of its own).
    alert_kind: str | None = None

    def __init__(self, message: str, *, call: CallInfo | None = None, detail: dict[str, Any] | None = None):
        # Messages and details often carry server text, which may echo a request and its secret:
        # scrubbed here, once, so no error can carry a secret into a log, an alert or an answer.
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.call = call
        self.detail = redact(detail or {})

    def __str__(self) -> str:
        return self.message

    def as_log(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "error_type": type(self).__name__,
            "error_code": self.code,
            "disposition": self.disposition.value,
            "error_message": self.message,
        }
        if self.detail:
            out["error_detail"] = self.detail
        if self.call is not None:
            out["previous_call"] = self.call.as_log()
        return out


# --- the run's own clock ---------------------------------------------------------------------
class TimeBudgetSpent(SyncError):
    """An adapter did not start a call because the Lambda's time is nearly up. No service failed:
    the engine saves progress and ends the run ``partial``, and the run continues at once."""

    code = "time_budget_spent"
    disposition = Disposition.RETRY_LATER


# --- configuration ---------------------------------------------------------------------------
class ConfigError(SyncError):
    """Invalid or missing configuration: fails fast, names the field, nothing runs."""

    code = "invalid_configuration"
    alert_kind = "configuration"


# --- source (Severa) -------------------------------------------------------------------------
class SeveraError(SyncError):
    code = "severa_error"


class SeveraFault(SeveraError):
    """A SOAP fault Severa declared. ``fault_type`` is the detail element's name."""

    fault_type = "UnknownFault"

    def __init__(
        self,
        message: str,
        *,
        description: str | None = None,
        source: str | None = None,
        call: CallInfo | None = None,
    ):
        super().__init__(
            message,
            call=call,
            detail={"fault_type": self.fault_type, "description": description, "source": source},
        )
        self.description = redact(description)
        self.source = redact(source)


class SeveraAuthenticationFailed(SeveraFault):
    fault_type = "AuthenticationFailureException"
    code = "severa_authentication_failed"
    alert_kind = "authentication"


class SeveraNoPermission(SeveraFault):
    fault_type = "NoPermissionException"
    code = "severa_no_permission"
    alert_kind = "authentication"


class SeveraNotFound(SeveraFault):
    fault_type = "NotFoundException"
    code = "severa_not_found"
    disposition = Disposition.PER_RECORD


class SeveraValidationFailed(SeveraFault):
    fault_type = "ValidationException"
    code = "severa_validation_failed"
    disposition = Disposition.PER_RECORD


class SeveraGeneralFailure(SeveraFault):
    fault_type = "GeneralFailureException"
    code = "severa_general_failure"
    disposition = Disposition.PER_RECORD


class SeveraQuotaExceeded(SeveraFault):
    fault_type = "QuotaLimitExceededException"
    code = "severa_quota_exceeded"
    alert_kind = "quota"


class SeveraTosNotApproved(SeveraFault):
    fault_type = "TosNotApprovedException"
    code = "severa_tos_not_approved"
    alert_kind = "authentication"


class SeveraUnknownFault(SeveraFault):
    fault_type = "UnknownFault"
    code = "severa_unknown_fault"


class SeveraQuotaReserve(SeveraError):
    """We refuse to call: usage is within the configured margin of the daily quota."""

    code = "severa_quota_reserve"
    alert_kind = "quota"


class SeveraUnavailable(SeveraError):
    """Maintenance or downtime: 503 and gateway errors, refused/reset connections, DNS, timeouts."""

    code = "severa_unavailable"
    disposition = Disposition.RETRY_LATER


class SeveraResponseTooLarge(SeveraError):
    """The answer passed the size limit: the engine splits the window or falls back."""

    code = "severa_response_too_large"
    disposition = Disposition.RETRY_LATER


class SeveraTimeout(SeveraUnavailable):
    """A read timeout: unavailable, but for a window it first means 'try a smaller window'."""

    code = "severa_timeout"


class SeveraMalformedResponse(SeveraError):
    """Malformed or truncated XML. Retried later: a cut connection looks exactly like this."""

    code = "severa_malformed_response"
    disposition = Disposition.RETRY_LATER


class SchemaVersionChanged(SyncError):
    code = "entity_schema_changed"
    alert_kind = "schema_change"


class TenantHalted(SyncError):
    code = "tenant_halted"


# --- targets ---------------------------------------------------------------------------------
class TargetError(SyncError):
    code = "target_error"


class TargetRejected(TargetError):
    """The target refused this record (4xx validation): park it, go on."""

    code = "target_rejected"
    disposition = Disposition.PER_RECORD


class MappingError(SyncError):
    """A record cannot be mapped to the target's shape (missing customer number, bad VAT...)."""

    code = "mapping_error"
    disposition = Disposition.PER_RECORD


class TargetAuthFailed(TargetError):
    code = "target_authentication_failed"
    alert_kind = "authentication"


class TargetUnavailable(TargetError):
    """Target down or throttled past our time budget: stop, the next schedule continues."""

    code = "target_unavailable"


class TargetQuotaExhausted(TargetError):
    code = "target_quota_exhausted"
    alert_kind = "quota"


class ChangedDuringTransfer(SyncError):
    """An invoice changed in Severa after (or while) it was written to Visma.net. Invoices are
    accounting documents the sync never rewrites, so it is not marked transferred: parked and
    alerted, for an operator to reconcile (docs/operations.md)."""

    code = "invoice_changed_after_transfer"
    disposition = Disposition.PER_RECORD


class OutcomeUnknown(TargetError):
    """A write timed out or failed with 5xx after it may have committed, and the look-up did not
    settle it. Never retried blindly: parked, looked up again on the next run."""

    code = "target_outcome_unknown"
    disposition = Disposition.PER_RECORD


def classify(exc: BaseException) -> Disposition:
    """Disposition of any exception; unknown ones stop the run (never escape unclassified)."""
    if isinstance(exc, SyncError):
        return exc.disposition
    return Disposition.STOP
