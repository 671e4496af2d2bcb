"""Reading template.yaml and samconfig.toml the way CloudFormation and SAM CLI read them.

PyYAML's safe loader rejects CloudFormation's short tags (``!Ref``, ``!Sub``...). This loader
turns each into its long form (``{"Ref": ...}``, ``{"Fn::Sub": ...}``) so tests can inspect the
template as CloudFormation sees it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"
RETRY_ASL = ROOT / "infra" / "statemachines" / "retry.asl.json"

_SHORT_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        name: f"Fn::{name}"
        for name in (
            "Sub",
            "GetAtt",
            "Join",
            "Select",
            "Split",
            "If",
            "Equals",
            "Not",
            "And",
            "Or",
            "FindInMap",
            "ImportValue",
            "Base64",
            "GetAZs",
            "Cidr",
            "Length",
            "ToJsonString",
        )
    },
}


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation's short-form intrinsic functions."""


def _construct(long_name: str):
    def construct(loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if long_name == "Fn::GetAtt":  # !GetAtt Resource.Attribute
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {long_name: value}

    return construct


for _short, _long in _SHORT_TAGS.items():
    CfnLoader.add_constructor(f"!{_short}", _construct(_long))


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return parse_template(path.read_text(encoding="utf-8"))


def parse_template(text: str) -> dict[str, Any]:
    return yaml.load(text, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


def resources_of_type(template: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {lid: res for lid, res in template["Resources"].items() if res["Type"] == type_name}


_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


def render_sub(value: Any, variables: dict[str, str]) -> str:
    """Evaluate an ``Fn::Sub`` the way CloudFormation does; unknown variables raise KeyError."""
    if isinstance(value, dict):
        value = value["Fn::Sub"]
    if isinstance(value, list):
        text, extra = value
        variables = {**variables, **extra}
    else:
        text = value
    rendered = _SUB_VARIABLE.sub(lambda m: variables[m.group(1)], text)
    return rendered.replace("${!", "${")


def sub_variables(value: Any) -> set[str]:
    """Names an ``Fn::Sub`` string refers to (``${AWS::Region}``, ``${Param}``, ``${Res.Attr}``)."""
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    return set(_SUB_VARIABLE.findall(text))


def samconfig() -> dict[str, Any]:
    with SAMCONFIG.open("rb") as handle:
        return tomllib.load(handle)


def parameter_overrides(environment: str) -> dict[str, str]:
    """``parameter_overrides`` of a samconfig environment as SAM CLI reads them.

    SAM CLI splits an unquoted value at its first space (checked against samcli.cli.types
    CfnParameterOverridesType), so values with spaces must be wrapped in double quotes.
    """
    raw = samconfig()[environment]["deploy"]["parameters"]["parameter_overrides"]
    items = raw if isinstance(raw, list) else [raw]
    out: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        if " " in value and not (value.startswith('"') and value.endswith('"')):
            raise ValueError(
                f"{key}: a value with spaces must be double-quoted, SAM CLI would cut it: {item!r}"
            )
        out[key] = value[1:-1] if value.startswith('"') and value.endswith('"') else value
    return out
