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

from severa_sync.redaction import redact


class Disposition(enum.StrEnum):
    STOP = "stop"
    RETRY_LATER = "retry_later"
    PER_RECORD = "per_record"


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


class TargetQuotaPaused(TimeBudgetSpent):
    """Visma.net's request quota for the current window is spent down to the reserve kept for the
    company's other integrations (``visma.quota_reserve_percent``). No call was refused and nothing
    failed: the engine saves progress and pauses the run until the window resets
    (``resets_in_seconds``); a planned pause is not an alert (docs/operations.md)."""

    code = "target_quota_paused"

    def __init__(
        self,
        message: str,
        *,
        resets_in_seconds: float,
        budget: int | None,
        window_seconds: float,
        call: CallInfo | None = None,
        detail: dict[str, Any] | None = None,
    ):
        super().__init__(message, call=call, detail=detail)
        self.resets_in_seconds = resets_in_seconds
        #: Calls a whole window allows this integration (the limit less the reserve), if known.
        self.budget = budget
        self.window_seconds = window_seconds


class LockLost(SyncError):
    """The run's lease ran out and another invocation took the lock: this one stops before it
    writes anything more (the holder does the work). A lease shorter than a run's life causes it."""

    code = "lock_lost"


# --- configuration ---------------------------------------------------------------------------
class ConfigError(SyncError):
    """Invalid or missing configuration: fails fast, names the field, nothing runs."""

    code = "invalid_configuration"
    alert_kind = "configuration"


class InvoiceStatusUnknown(ConfigError):
    """The configured invoice statuses are not the tenant's (localized or renamed in Severa).

    Raised before any invoice is read: reading with a status name Severa does not have finds
    nothing and would look like "no invoices". The message lists the tenant's real names."""

    code = "invoice_status_unknown"

    @property
    def alert_summary(self) -> str:
        # Status names are the tenant's configuration, not customer data: the alert may show them.
        return f"The run stopped before reading invoices: {self.message}."


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


class SeveraUnreachable(SeveraError):
    """The configured host does not resolve, or refuses connections, after a few short tries: a
    wrong URL or a DNS/firewall change, not maintenance. Reported at once, with the host name."""

    code = "severa_unreachable"
    alert_kind = "connection"

    @property
    def alert_summary(self) -> str:
        from severa_sync import network

        return network.alert_summary(self.message)  # names the host (the configured URL's)


class SeveraResponseTooLarge(SeveraError):
    """The answer passed the size limit: the engine splits the window or falls back."""

    code = "severa_response_too_large"
    disposition = Disposition.RETRY_LATER


class SeveraTimeout(SeveraUnavailable):
    """A read timeout: unavailable, but for a window it first means 'try a smaller window'."""

    code = "severa_timeout"


class SeveraPagesShifting(SeveraError):
    """A paged read (``GetAllCustomers``) kept finding its rows shifted by deletions: tried again
    after the wait, when the deleting is over."""

    code = "severa_pages_shifting"
    disposition = Disposition.RETRY_LATER


class SeveraMalformedResponse(SeveraError):
    """A complete answer that is not a well-formed Severa SOAP answer (broken XML, a DTD, no response
    element). Not maintenance: waiting does not mend it, so the run stops with its own alert and the
    next scheduled run tries again. (Characters XML 1.0 forbids are tolerated, never this error.)"""

    code = "severa_malformed_response"
    alert_kind = "malformed_answer"


class SeveraAnswerCutShort(SeveraError):
    """The connection broke while the answer was arriving (fewer bytes than announced, a broken
    chunked stream): a transport failure, tried again after the wait like unavailability."""

    code = "severa_answer_cut_short"
    disposition = Disposition.RETRY_LATER


class SeveraRecordUndecodable(SeveraError):
    """One record of an answer has a member that is not of its declared type: that record is
    parked under its GUID and the rest of the answer is delivered."""

    code = "severa_record_undecodable"
    disposition = Disposition.PER_RECORD


class SeveraEndpointNotSoap(SeveraError, ConfigError):
    """The Severa URL answers with something that is not SOAP (an HTML page with HTTP 200: a wrong
    URL, a login or proxy page). A configuration error: it stops the first run and names the URL."""

    code = "severa_endpoint_not_soap"


class SchemaVersionChanged(SyncError):
    code = "entity_schema_changed"
    alert_kind = "schema_change"


# --- targets ---------------------------------------------------------------------------------
class TargetError(SyncError):
    code = "target_error"


class TargetRejected(TargetError):
    """The target refused this record (4xx validation): park it, go on."""

    code = "target_rejected"
    disposition = Disposition.PER_RECORD


class ForeignDocument(TargetError):
    """Visma.net already holds a document under the key this record would use (customer number,
    project id, invoice externalReference), severa-sync did not create it and it does not match
    the record by the adoption rule (docs/operations.md, "what adoption accepts"). It is neither
    adopted nor changed: the record is parked (and so alerted) until a person resolves it."""

    code = "foreign_document_in_visma"
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


class ExportFileUnreadable(TargetError):
    """An existing S3 export file is not JSON Lines (a line is not a JSON object). Alerted: a file
    that cannot be merged stops its type until it is replaced. The way out is in the message: the
    next run that re-reads the file's day or week replaces it whole without reading it."""

    code = "export_file_unreadable"
    alert_kind = "export_file_unreadable"


class DayUnreadable(SeveraError):
    """One day of hour entries timed out even read alone (a day over the size limit is read whole,
    so size is never the cause). Raised at the end of a run whose other days were all exported; the
    day is re-read by the next run."""

    code = "day_unreadable"
    alert_kind = "day_unreadable"


class ChangedDuringTransfer(SyncError):
    """An invoice changed in Severa after (or while) it was written to Visma.net. Invoices are
    accounting documents the sync never rewrites, so it is not marked transferred: parked and
    alerted, for an operator to reconcile (docs/operations.md)."""

    code = "invoice_changed_after_transfer"
    disposition = Disposition.PER_RECORD


class InvoiceNotConfirmed(SyncError):
    """An invoice written to Visma.net could not be read again from Severa (NotFound by GUID and
    by number) to confirm it is unchanged: not marked transferred on no evidence; parked, and
    confirmed by the next run's re-read."""

    code = "invoice_not_confirmed"
    disposition = Disposition.PER_RECORD


class OutcomeUnknown(TargetError):
    """A write timed out or failed with 5xx after it may have committed, and the look-up did not
    settle it. Never retried blindly: parked, looked up again on the next run."""

    code = "target_outcome_unknown"
    disposition = Disposition.PER_RECORD


# --- writes into Severa (payments) -------------------------------------------------------------
class SeveraWriteCapReached(SyncError):
    """One more Severa write than ``payments.max_severa_writes`` allows in one run: stopped before
    it is made, alerted, watermark unmoved (a bad mapping must not mass-update Severa)."""

    code = "severa_write_cap_reached"
    alert_kind = "severa_write_cap"

    @property
    def alert_summary(self) -> str:
        return f"The run stopped before writing more into Severa: {self.message}."


class SeveraInvoiceMissing(SyncError):
    """The Severa invoice a Visma.net document was transferred from is not found in Severa: its
    payment state is not written; parked, read again next run."""

    code = "severa_invoice_missing"
    disposition = Disposition.PER_RECORD
