"""Fixtures: a seeded simulator on 127.0.0.1 per test, zeep over the bundled WSDL, raw SOAP posts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest
import requests
import zeep
from lxml import etree

from severa_sync.severa.schema import NS_SEVERA, NS_SOAP_ENV
from severa_sync_tools.simulators.severa import SeveraSimulator

API_KEY = "test-key-Zq81-not-for-logs"
#: A fixed reference time: the seed and the clock are deterministic (the clock is frozen here).
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WSDL_PATH = str(resources.files("severa_sync.severa").joinpath("wsdl/API.wsdl"))
AUTH = {"WebServicePassword": API_KEY}


@pytest.fixture
def sim() -> Iterator[SeveraSimulator]:
    with SeveraSimulator(api_key=API_KEY, now=NOW) as simulator:
        yield simulator


@pytest.fixture(scope="session")
def zeep_client() -> zeep.Client:
    return zeep.Client(WSDL_PATH)


def service(client: zeep.Client, sim: SeveraSimulator, interface: str) -> Any:
    return client.create_service(f"{{{NS_SEVERA}}}Severa.API.{interface}", sim.url)


def envelope(operation: str, params: str = "", *, key: str | None = API_KEY) -> str:
    header = (
        f'<s:Header><WebServicePassword xmlns="{NS_SEVERA}">{key}</WebServicePassword></s:Header>'
        if key is not None
        else ""
    )
    name = operation.split("/")[1]
    return (
        f'<s:Envelope xmlns:s="{NS_SOAP_ENV}">{header}<s:Body>'
        f'<{name} xmlns="{NS_SEVERA}">{params}</{name}></s:Body></s:Envelope>'
    )


def post(
    sim: SeveraSimulator,
    operation: str,
    params: str = "",
    *,
    key: str | None = API_KEY,
    action: str | None = None,
    body: str | bytes | None = None,
    timeout: float = 30,
    **kwargs: Any,
) -> requests.Response:
    headers = {
        "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": action if action is not None else f'"{NS_SEVERA}{operation}"',
    }
    data = body if body is not None else envelope(operation, params, key=key)
    return requests.post(
        sim.url,
        data=data.encode() if isinstance(data, str) else data,
        headers=headers,
        timeout=timeout,
        **kwargs,
    )


def parse(response: requests.Response) -> etree._Element:
    return etree.fromstring(response.content)


def quota_headers(response: requests.Response) -> tuple[int, int]:
    root = parse(response)
    quota = root.findtext(f"{{{NS_SOAP_ENV}}}Header/{{{NS_SEVERA}}}Quota")
    used = root.findtext(f"{{{NS_SOAP_ENV}}}Header/{{{NS_SEVERA}}}UsedQuota")
    assert quota is not None and used is not None
    return int(quota), int(used)
