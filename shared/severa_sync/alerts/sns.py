"""``ports.Alerts`` on an SNS topic (an email subscription), and an in-memory twin.

An alert is a postcard: it may cross mail servers and sit in inboxes, so it carries no customer
data. ``format_alert`` renders exactly these fields and nothing else: kind, tenant, data type, the
summary (written by the engine without record content), the time in UTC and in the tenant's zone to
the second, the run id, the runbook section that says what to do, and a Logs Insights query that
leads to the details in the logs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from severa_sync import runbook
from severa_sync.awscalls import failure
from severa_sync.engine.ports import Alert
from severa_sync.errors import CallInfo, SyncError
from severa_sync.redaction import redact, redact_and_cut
from severa_sync.timeutil import as_utc, iso_seconds

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

SUBJECT_PREFIX = "[severa-sync]"
MAX_SUBJECT_CHARS = 99  # SNS: "less than 100 characters", ASCII, no line breaks
MAX_SUMMARY_CHARS = 500
MAX_QUERY_CHARS = 2000
ALL_TYPES = "all"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class AlertPublishFailed(SyncError):
    """SNS refused the alert: the run's outcome is still logged; the operator alarm on errors fires."""

    code = "alert_publish_failed"


def _one_line(text: str, limit: int, ellipsis: str = "…") -> str:
    flat = " ".join(_CONTROL.sub(" ", redact(text)).split())
    return redact_and_cut(flat, limit, ellipsis)


def format_subject(alert: Alert) -> str:
    what = alert.kind.replace("_", " ")
    subject = f"{SUBJECT_PREFIX} {alert.tenant}/{alert.data_type or ALL_TYPES}: {what}"
    ascii_only = subject.encode("ascii", "replace").decode("ascii")
    return _one_line(ascii_only, MAX_SUBJECT_CHARS, "...")  # SNS subjects must be ASCII


def format_alert(alert: Alert) -> tuple[str, str]:
    """(subject, body) of the alert email: the listed fields only, never anything else."""
    local_zone = getattr(alert.at_local.tzinfo, "key", None)
    local = iso_seconds(alert.at_local) + (f" ({local_zone})" if local_zone else "")
    query = redact_and_cut(_CONTROL.sub(" ", alert.logs_query).strip(), MAX_QUERY_CHARS)
    body = "\n".join(
        [
            f"severa-sync alert: {_one_line(alert.kind.replace('_', ' '), 100)}",
            "",
            f"Tenant:        {_one_line(alert.tenant, 100)}",
            f"Data type:     {_one_line(alert.data_type or ALL_TYPES, 100)}",
            f"What happened: {_one_line(alert.summary, MAX_SUMMARY_CHARS)}",
            f"When (UTC):    {iso_seconds(as_utc(alert.at_utc))}",
            f"When (local):  {local}",
            f"Run id:        {_one_line(alert.run_id, 200)}",
            f"What to do:    see {runbook.section(_one_line(alert.kind, 100))} (the runbook)",
            "",
            "CloudWatch Logs Insights query for the details:",
            query,
            "",
        ]
    )
    return format_subject(alert), body


def message_attributes(alert: Alert) -> dict[str, Any]:
    """For subscription filter policies (e.g. only ``kind`` = authentication to the on-call list)."""
    values = {"kind": alert.kind, "tenant": alert.tenant, "data_type": alert.data_type or ALL_TYPES}
    return {
        name: {"DataType": "String", "StringValue": _one_line(value, 256)} for name, value in values.items()
    }


class SnsAlerts:
    def __init__(self, sns_client: SNSClient, topic_arn: str):
        self._sns = sns_client
        self._topic_arn = topic_arn
        self.last_call: CallInfo | None = None

    def publish(self, alert: Alert) -> None:
        subject, body = format_alert(alert)
        call = CallInfo(system="sns", operation="Publish", params={"topic_arn": self._topic_arn})
        self.last_call = call
        try:
            self._sns.publish(
                TopicArn=self._topic_arn,
                Subject=subject,
                Message=body,
                MessageAttributes=message_attributes(alert),
            )
        except (ClientError, BotoCoreError) as exc:
            self.last_call, error = failure(
                exc, call, AlertPublishFailed, f"SNS Publish to {self._topic_arn}"
            )
            raise error from None


class InMemoryAlerts:
    """Same protocol, kept in a list: tests and the local run (which prints them)."""

    def __init__(self) -> None:
        self.published: list[Alert] = []

    def publish(self, alert: Alert) -> None:
        self.published.append(alert)

    @property
    def messages(self) -> list[tuple[str, str]]:
        return [format_alert(alert) for alert in self.published]
