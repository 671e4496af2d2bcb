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
    "seed_parameter": "ConfigSeedParameterName",
    "bucket": "ExportBucketName",
}


class StackError(ConfigError):
    """The named stack cannot be used: missing, not readable, or deployed from an older template."""


@dataclass(frozen=True)
class StackDocument:
    """The document in effect: the operator's parameter, or the template's seed while there is none."""

    parameter: str
    text: str
    meta: dict[str, Any]
    is_seed: bool

    @property
    def source(self) -> str:
        if self.is_seed:
            return (
                f"{self.parameter}, the template's seed: no document has been pushed "
                "(severa-sync config push FILE --stack NAME writes one)"
            )
        return f"{self.parameter}, pushed with severa-sync config push"


@dataclass(frozen=True)
class DeployedStack:
    name: str
    region: str
    table: str
    topic: str
    parameter: str  # the operator's document: config push writes it, CloudFormation never does
    seed_parameter: str  # the template's seed, in effect while ``parameter`` does not exist
    bucket: str

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=self.region)  # type: ignore[call-overload]

    def _get(self, name: str) -> dict[str, Any] | None:
        """The parameter's SSM record, or None when it does not exist."""
        try:
            return dict(self.client("ssm").get_parameter(Name=name)["Parameter"])
        except (ClientError, BotoCoreError) as exc:
            if _code(exc) == "ParameterNotFound":
                return None
            raise StackError(f"cannot read SSM parameter {name}: {_code(exc)}") from None

    def pushed_document(self) -> dict[str, Any] | None:
        """The operator's parameter as SSM holds it; None before the first push."""
        return self._get(self.parameter)

    def document(self) -> StackDocument:
        """The document the functions use: the operator's, else the seed (as config_store reads it)."""
        found = self.pushed_document()
        if found is not None:
            return StackDocument(self.parameter, str(found["Value"]), found, is_seed=False)
        seed = self._get(self.seed_parameter)
        if seed is None:
            raise StackError(
                f"cannot read SSM parameter {self.parameter} nor its seed {self.seed_parameter}: "
                "ParameterNotFound (deploy the stack, then severa-sync config push FILE --stack NAME)"
            )
        return StackDocument(self.seed_parameter, str(seed["Value"]), seed, is_seed=True)

    def config(self) -> TenantConfig:
        document = self.document()
        return parse_document(
            document.text, origin=f"SSM parameter {document.parameter} of stack {self.name}"
        )


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
