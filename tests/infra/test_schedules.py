"""No schedule fires more often than hourly: parser, template defaults, samconfig overrides."""

from __future__ import annotations

import re
from typing import Any

import pytest

from severa_sync.registry import DATA_TYPES
from tests.infra.cfn import parameter_overrides, samconfig
from tests.infra.schedules import fires_more_than_hourly

TOO_OFTEN = [
    "rate(5 minutes)",
    "rate(59 minutes)",
    "cron(*/15 * * * ? *)",
    "cron(0,30 * * * ? *)",
    "cron(* 3 * * ? *)",
    "cron(0-1 3 * * ? *)",
    "cron(10/20 * * * ? *)",
]
HOURLY_OR_RARER = [
    "rate(1 hour)",
    "rate(60 minutes)",
    "rate(2 days)",
    "cron(0 * * * ? *)",
    "cron(45 6-18 ? * MON-FRI *)",
    "cron(0 2 ? * MON *)",
    "cron(30 4 1 * ? *)",
]


@pytest.mark.parametrize("expression", TOO_OFTEN)
def test_parser_flags_sub_hourly_expressions(expression: str) -> None:
    assert fires_more_than_hourly(expression)


@pytest.mark.parametrize("expression", HOURLY_OR_RARER)
def test_parser_accepts_hourly_or_rarer(expression: str) -> None:
    assert not fires_more_than_hourly(expression)


@pytest.mark.parametrize("expression", ["every hour", "cron(0 * * *)", "rate(0 hours)", "cron(61 * * * ? *)"])
def test_parser_rejects_what_it_cannot_read(expression: str) -> None:
    with pytest.raises(ValueError):
        fires_more_than_hourly(expression)


def _schedule_parameters(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {dt.schedule_parameter: template["Parameters"][dt.schedule_parameter] for dt in DATA_TYPES}


def test_registry_and_template_defaults_are_hourly_or_rarer(template: dict[str, Any]) -> None:
    for dt in DATA_TYPES:
        assert not fires_more_than_hourly(dt.default_schedule), dt.name
    for name, parameter in _schedule_parameters(template).items():
        assert not fires_more_than_hourly(parameter["Default"]), name


@pytest.mark.parametrize("environment", ["secure-test", "production"])
def test_samconfig_schedule_overrides_are_hourly_or_rarer(environment: str) -> None:
    overrides = parameter_overrides(environment)
    schedule_names = {dt.schedule_parameter for dt in DATA_TYPES}
    for key, value in overrides.items():
        if key in schedule_names:
            assert not fires_more_than_hourly(value), f"{environment}: {key}={value}"


def test_every_samconfig_environment_is_checked() -> None:
    deploy_envs = {
        env for env, sections in samconfig().items() if isinstance(sections, dict) and "deploy" in sections
    }
    assert deploy_envs == {"secure-test", "production"}


def test_schedule_parameter_pattern_refuses_sub_hourly_at_deploy_time(template: dict[str, Any]) -> None:
    # CloudFormation checks AllowedPattern (Java regex; this one is also valid Python) before deploying.
    for name, parameter in _schedule_parameters(template).items():
        pattern = re.compile(parameter["AllowedPattern"])
        for expression in TOO_OFTEN:
            assert not pattern.fullmatch(expression), f"{name} allows {expression}"
        for expression in [*HOURLY_OR_RARER[:1], *HOURLY_OR_RARER[2:], parameter["Default"]]:
            assert pattern.fullmatch(expression), f"{name} refuses {expression}"
        assert not pattern.fullmatch('cron(0 * * * ? "*)'), "quotes would break SEVERA_SYNC_CONFIG"
