"""``--stack NAME``: a deployed stack's resources, from its CloudFormation outputs.

Operator commands act on a named place: the state table, the alert topic, the configuration
parameter and the region all come from ``DescribeStacks`` of the stack the operator names, never
from a default. The outputs are those of ``template.yaml`` (tests/infra checks the names).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from severa_sync.config import TenantConfig
from severa_sync.config_store import parse_document
from severa_sync.errors import ConfigError

#: attribute of ``DeployedStack`` -> the template's output.
OUTPUTS = {
    "region": "Region",
    "table": "StateTableName",
    "topic": "AlertTopicArn",
    "parameter": "ConfigParameterName",
    "bucket": "ExportBucketName",
}


class StackError(ConfigError):
    """The named stack cannot be used: missing, not readable, or deployed from an older template."""


@dataclass(frozen=True)
class DeployedStack:
    name: str
    region: str
    table: str
    topic: str
    parameter: str
    bucket: str

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=self.region)  # type: ignore[call-overload]

    def read_document(self) -> tuple[str, dict[str, Any]]:
        """The configuration document's text and its SSM metadata (version, last modified)."""
        try:
            found = self.client("ssm").get_parameter(Name=self.parameter)["Parameter"]
        except (ClientError, BotoCoreError) as exc:
            raise StackError(f"cannot read SSM parameter {self.parameter}: {_code(exc)}") from None
        return str(found["Value"]), found

    def config(self) -> TenantConfig:
        text, _ = self.read_document()
        return parse_document(text, origin=f"SSM parameter {self.parameter} of stack {self.name}")


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def resolve_stack(name: str, region: str | None = None) -> DeployedStack:
    import boto3

    cloudformation = boto3.client("cloudformation", region_name=region)
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if _code(exc) == "ValidationError":  # CloudFormation's answer for "does not exist"
            where = region or cloudformation.meta.region_name
            raise StackError(f"stack {name} does not exist in {where} (check --stack and --region)") from None
        raise StackError(f"cannot describe stack {name}: {_code(exc)}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = sorted(output for output in OUTPUTS.values() if output not in outputs)
    if missing:
        raise StackError(
            f"stack {name} has no output {', '.join(missing)}: deploy the current template.yaml first"
        )
    return DeployedStack(name=name, **{attr: outputs[output] for attr, output in OUTPUTS.items()})
