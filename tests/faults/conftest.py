"""Fixtures of the fault suite: the Visma.net simulator once per session (reset per schedule), moto
once per module (fresh resources per schedule), the log capture per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from severa_sync_tools.simulators.visma import VismaSimulator

from .capture import LogCapture, captured_logs
from .stack import Aws
from .world import REGION, VISMA_SECRET, new_aws


@pytest.fixture(scope="session")
def visma() -> Iterator[VismaSimulator]:
    with VismaSimulator(client_secret=VISMA_SECRET) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def aws_clients() -> Iterator[tuple[Any, Any, Any]]:
    saved = {
        k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    }
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    try:
        with mock_aws():
            yield (
                boto3.client("dynamodb", region_name=REGION),
                boto3.client("s3", region_name=REGION),
                boto3.client("sns", region_name=REGION),
            )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def aws(aws_clients: tuple[Any, Any, Any]) -> Aws:
    return new_aws(*aws_clients)


@pytest.fixture
def capture() -> Iterator[LogCapture]:
    with captured_logs() as logs:
        yield logs
