"""The stack of ``template.yaml`` on 127.0.0.1: moto server, both simulators, and the Lambda handlers.

``local_stack()`` starts a moto server and the Severa and Visma.net simulators, creates what the
template creates (state table, alert topic, export bucket, retry state machine) plus the two secrets
the template is given by ARN, and sets the environment variables the template gives the functions.
``LocalStack.invoke()`` then calls the handlers as Lambda would (``local_lambda``). Nothing
outside the given work directory is written, and everything is stopped and restored on exit.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import secrets as token_source
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from severa_sync import registry
from severa_sync.config import TenantConfig, parse_config
from severa_sync.errors import ConfigError
from severa_sync.orchestration import RetryPayload
from severa_sync.runtime import reset_runtime
from severa_sync.secrets import Secret
from severa_sync.state.table import create_state_table
from severa_sync.timeutil import utcnow
from severa_sync_tools.local_lambda import (
    ACCOUNT_ID,
    REGION,
    REPO_ROOT,
    function_name,
    invoke,
    patched_environ,
)
from severa_sync_tools.retry_loop import load_definition

RETRY_DEFINITION = REPO_ROOT / "infra" / "statemachines" / "retry.asl.json"
STACK_NAME = "severa-sync-demo"
#: The template's RetryWaitSeconds / RetryMaxAttempts / RetryMaxContinuations defaults (tests compare).
RETRY_WAIT_SECONDS_AWS = 600
RETRY_MAX_ATTEMPTS = 15
RETRY_MAX_CONTINUATIONS = 100
VISMA_CLIENT_ID = "severa-sync"
VISMA_COMPANY = "demo-company"
DEMO_TIME_ZONE = "Europe/Helsinki"


@contextlib.contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
    """Servers' request logs (werkzeug) would drown the demo's readable progress log."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


# --- the stack ----------------------------------------------------------------------------------
def aws_client(service: str, endpoint: str) -> Any:
    """A boto3 client of the moto server (explicit endpoint and dummy credentials, whatever the env)."""
    import boto3

    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
    )


@dataclass
class LocalStack:
    severa: Any  # SeveraSimulator
    visma: Any  # VismaSimulator
    endpoint: str
    table_name: str
    topic_arn: str
    bucket: str
    state_machine_arn: str
    alert_queue_url: str
    config: TenantConfig
    #: Variables set while the stack runs (None: removed).
    environment: dict[str, str | None]
    retry_substitutions: dict[str, str]
    _alerts: list[dict[str, Any]] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return aws_client(service, self.endpoint)

    def invoke(self, data_type: str, event: dict[str, Any] | None = None) -> dict[str, Any]:
        return invoke(
            data_type,
            event or {"data_type": data_type, "source": "schedule"},
            name=function_name(data_type, STACK_NAME),
        )

    def invoke_by_function_name(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        """What the retry machine's ``lambda:invoke`` reaches: the function of that name."""
        for dt in registry.DATA_TYPES:
            if function_name(dt.name, STACK_NAME) == name:
                return self.invoke(dt.name, payload)
        raise ConfigError(f"no function named {name} in the local stack")

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert published to the topic so far (read through its SQS subscription)."""
        sqs = self.client("sqs")
        while True:
            got = sqs.receive_message(
                QueueUrl=self.alert_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            messages = got.get("Messages", [])
            if not messages:
                return list(self._alerts)
            for message in messages:
                body = json.loads(message["Body"])
                self._alerts.append({"subject": body.get("Subject"), "message": body.get("Message", "")})
                sqs.delete_message(QueueUrl=self.alert_queue_url, ReceiptHandle=message["ReceiptHandle"])

    def export_keys(self) -> list[str]:
        pages = self.client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def pending_retry_executions(self) -> list[dict[str, Any]]:
        """Executions the handlers started that no one has run yet (moto only records them)."""
        sfn = self.client("stepfunctions")
        listed = sfn.list_executions(stateMachineArn=self.state_machine_arn, statusFilter="RUNNING")
        out = []
        for item in listed["executions"]:
            described = sfn.describe_execution(executionArn=item["executionArn"])
            # Parsed as the handler built it (a payload the machine could not read fails here, loudly).
            payload = RetryPayload.parse(described["input"])
            out.append({"arn": item["executionArn"], "name": item["name"], "input": payload.model_dump()})
        return out

    def close_execution(self, arn: str, status: str) -> None:
        # moto has no way to finish an execution it does not run; stopping it records that the
        # local loop ran it, so it is not driven twice.
        self.client("stepfunctions").stop_execution(
            executionArn=arn, error="LocalRetryLoop", cause=f"driven by the local retry loop: {status}"
        )


#: The Severa invoice status the demo adds for partly paid invoices (the seed has none).
PARTLY_PAID_STATUS = "Partly paid"


def demo_config(
    severa_url: str,
    visma_base_url: str,
    visma_token_url: str,
    *,
    severa_secret_arn: str,
    visma_secret_arn: str,
    bucket: str,
    backfill_days: int = 45,
) -> TenantConfig:
    """The template's SEVERA_SYNC_CONFIG with the simulators as endpoints (tenant demo, stage local)."""
    backfill = (utcnow() - timedelta(days=backfill_days)).date().isoformat()
    return parse_config(
        {
            "tenant": "demo",
            "stage": "local",
            "time_zone": DEMO_TIME_ZONE,
            "severa": {"url": severa_url, "api_key_secret": severa_secret_arn},
            "visma": {
                "base_url": visma_base_url,
                "token_url": visma_token_url,
                "client_id": VISMA_CLIENT_ID,
                "client_secret_secret": visma_secret_arn,
                "company_tenant_id": VISMA_COMPANY,
            },
            "api_user": {"organisation": "Demo Oy", "name": "Demo Operator", "email": "operator@example.com"},
            # The demo company's project default subaccount (a template would do as well).
            "projects": {"default_subaccount": [{"segment_id": 1, "value": "0000"}]},
            # The demo company's non-stock item class (the Visma.net simulator's).
            "products": {"item_class": "SERVICE"},
            # Payments back to Severa: the demo tenant's statuses (PARTLY_PAID_STATUS is added by
            # the demo, as a Severa admin would add it).
            "payments": {"paid_status": "Paid", "partly_paid_status": PARTLY_PAID_STATUS},
            "export_bucket": bucket,
            "export_prefix": "exports",
            "types": {dt.name: {"backfill_from": backfill} for dt in registry.DATA_TYPES},
        },
        origin="demo configuration",
    )


@contextlib.contextmanager
def local_stack(work_dir: Path, *, retry_wait_seconds: int = 1) -> Iterator[LocalStack]:
    """Start everything, yield the stack with the functions' environment set, stop everything."""
    from moto.server import ThreadedMotoServer

    from severa_sync_tools.simulators.severa import SeveraSimulator
    from severa_sync_tools.simulators.visma import VismaSimulator

    # Fresh credentials per run: the simulators accept them, Secrets Manager holds them, no one prints them.
    severa_key, visma_secret = Secret(token_source.token_urlsafe(24)), Secret(token_source.token_urlsafe(24))
    with contextlib.ExitStack() as stack:
        stack.enter_context(quiet_loggers("werkzeug"))
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        _reset_moto(endpoint)  # moto's backends live in this process: start from nothing
        stack.callback(_reset_moto, endpoint)
        severa = SeveraSimulator(api_key=severa_key.reveal(), seed=True).start(port=0)
        stack.callback(severa.stop)
        visma = VismaSimulator(
            client_id=VISMA_CLIENT_ID, client_secret=visma_secret.reveal(), company_tenant_id=VISMA_COMPANY
        ).start(port=0)
        stack.callback(visma.stop)
        stack.callback(_close_client_connections)  # runs before the servers stop
        aws_env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": None,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_PROFILE": None,
            # No file of the user's can redirect or re-credential the local stack.
            "AWS_CONFIG_FILE": str(work_dir / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(work_dir / "aws-credentials"),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        stack.enter_context(patched_environ(aws_env))
        local = _create_resources(
            severa, visma, endpoint, severa_key, visma_secret, retry_wait_seconds=retry_wait_seconds
        )
        stack.enter_context(patched_environ(local.environment))
        yield local


def _close_client_connections() -> None:
    # The runtime's HTTP clients keep connections alive, and a server thread serving a keep-alive
    # connection lives until the client closes it: drop the runtime and collect its clients now.
    reset_runtime()
    gc.collect()


def _reset_moto(endpoint: str) -> None:
    import requests

    requests.post(f"{endpoint}/moto-api/reset", timeout=10)


def _create_resources(
    severa: Any,
    visma: Any,
    endpoint: str,
    severa_key: Secret,
    visma_secret: Secret,
    *,
    retry_wait_seconds: int,
) -> LocalStack:
    table_name = f"{STACK_NAME}-StateTable"
    create_state_table(aws_client("dynamodb", endpoint), table_name)
    sns, sqs = aws_client("sns", endpoint), aws_client("sqs", endpoint)
    topic_arn = sns.create_topic(Name=f"{STACK_NAME}-AlertTopic", Attributes={"DisplayName": "severa-sync"})[
        "TopicArn"
    ]
    # The template subscribes an email address; locally a queue stands in so the demo can read alerts.
    queue_url = sqs.create_queue(QueueName=f"{STACK_NAME}-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    bucket = f"{STACK_NAME}-exports"
    s3 = aws_client("s3", endpoint)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    sm = aws_client("secretsmanager", endpoint)
    severa_arn = sm.create_secret(Name=f"{STACK_NAME}/severa-api-key", SecretString=severa_key.reveal())[
        "ARN"
    ]
    visma_arn = sm.create_secret(
        Name=f"{STACK_NAME}/visma-client-secret", SecretString=visma_secret.reveal()
    )["ARN"]
    substitutions = {
        "RetryWaitSeconds": str(retry_wait_seconds),
        "MaxAttempts": str(RETRY_MAX_ATTEMPTS),
        "MaxContinuations": str(RETRY_MAX_CONTINUATIONS),
        "AlertTopicArn": topic_arn,
        "StateTableName": table_name,
    }
    definition = load_definition(RETRY_DEFINITION, substitutions)
    machine_arn = aws_client("stepfunctions", endpoint).create_state_machine(
        name=f"{STACK_NAME}-retry",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{STACK_NAME}-RetryStateMachineRole",
        type="STANDARD",
    )["stateMachineArn"]
    config = demo_config(
        severa.url,
        visma.base_url,
        visma.token_url,
        severa_secret_arn=severa_arn,
        visma_secret_arn=visma_arn,
        bucket=bucket,
    )
    environment: dict[str, str | None] = {
        # template.yaml Globals.Function.Environment, with the local resources:
        "POWERTOOLS_SERVICE_NAME": "severa-sync",
        "POWERTOOLS_METRICS_NAMESPACE": "SeveraSync",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "STATE_TABLE": table_name,
        "ALERT_TOPIC_ARN": topic_arn,
        "RETRY_STATE_MACHINE_ARN": machine_arn,
        "SECRETS_BACKEND": "secretsmanager",
        "SEVERA_SYNC_CONFIG": config.model_dump_json(),
        # Local only: the DynamoDB table in moto, never the embedded store.
        "STATE_BACKEND": "dynamodb",
        "STATE_FILE": None,
    }
    return LocalStack(
        severa,
        visma,
        endpoint,
        table_name,
        topic_arn,
        bucket,
        machine_arn,
        queue_url,
        config,
        environment,
        substitutions,
    )
