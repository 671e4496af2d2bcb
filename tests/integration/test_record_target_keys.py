"""The record-delivered log line names where the record went (Severa invoice 10501 -> Visma.net
100001), and the mapping item keeps the Severa number for ``severa-sync state mappings``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from severa_sync_tools.localstack import local_stack


@pytest.fixture
def delivered_lines() -> Iterator[list[dict]]:
    lines: list[dict] = []
    logger = logging.getLogger("severa-sync")
    formatter = next(h.formatter for h in logger.handlers if h.formatter)  # the JSON CloudWatch gets

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            line = json.loads(formatter.format(record))
            if line.get("action") == "record_delivered":
                lines.append(line)

    handler = Keep(level=logging.INFO)
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def test_delivered_lines_carry_the_visma_key(tmp_path, delivered_lines) -> None:
    from severa_sync.state.dynamodb import DynamoStateStore
    from severa_sync_tools.localstack import aws_client
    from severa_sync_tools.mapping_view import find_mappings

    with local_stack(tmp_path) as stack:
        for name in ("accounts", "cases", "invoices"):
            stack.invoke(name)
        in_visma = {i["externalReference"]: i["referenceNumber"] for i in stack.visma.invoices}
        customers = {c["number"] for c in stack.visma.customers}
        store = DynamoStateStore(aws_client("dynamodb", stack.endpoint), stack.table_name)
        mapped = find_mappings(store, "demo", "invoices", "10501")
    by_key = {(line["data_type"], line["display_key"]): line for line in delivered_lines}
    invoice = by_key[("invoices", "10501")]
    assert invoice["target_key"] == in_visma["10501"], "Severa invoice 10501 -> its Visma.net reference"
    accounts = [line for line in delivered_lines if line["data_type"] == "accounts"]
    assert accounts and all(line["target_key"] in customers for line in accounts)
    assert [m.target_key for m in mapped.values()] == [in_visma["10501"]]
