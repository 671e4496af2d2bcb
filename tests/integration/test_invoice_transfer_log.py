"""The invoice run end to end through the Lambda handler (Severa and Visma.net simulators over HTTP,
moto server for DynamoDB/S3/SNS/Secrets Manager) reads like Severa's own example log."""

from __future__ import annotations

import json
import logging

import pytest

from severa_sync_tools.localstack import local_stack


@pytest.fixture
def captured():
    records: list[logging.LogRecord] = []
    logger = logging.getLogger("severa-sync")
    # What CloudWatch receives: powertools' JSON, formatted as the line is written (run keys included).
    formatter = next(h.formatter for h in logger.handlers if h.formatter)

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            record.json = json.loads(formatter.format(record))
            records.append(record)

    handler = Keep(level=logging.INFO)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_invoice_log_reads_like_the_guideline_example(tmp_path, captured):
    with local_stack(tmp_path) as stack:
        for name in ("accounts", "cases", "products"):  # what invoices depend on, first
            assert stack.invoke(name)["status"] == "succeeded"
        captured.clear()
        answer = stack.invoke("invoices")
        ready = {i["Number"]: i["InvoiceStatus"] for i in stack.severa.records("Invoice") if i.get("Number")}
        in_visma = {i.get("externalReference") for i in stack.visma.invoices}
    assert answer["status"] == "succeeded_with_errors" and answer["failed"] == 1
    lines = [r.getMessage() for r in captured]
    expected_in_order = [
        "Invoice transfer started",
        'Getting "Ready for transfer" invoices',
        "3 invoices found, starting to process invoices",
        "Invoice number 10501 was processed correctly",
        'Status of invoice number 10501 was updated to "Transferred" status',
        "Invoice number 10502 ERROR: unable to process invoice. Error message: ",
        "Invoice number 10503 was processed correctly",
        'Status of invoice number 10503 was updated to "Transferred" status',
        "Invoice transfer ended",
    ]
    position = 0
    for wanted in expected_in_order:
        found = [i for i, line in enumerate(lines) if line.startswith(wanted) and i >= position]
        assert found, f"missing {wanted!r} after line {position} in:\n" + "\n".join(lines)
        position = found[0]
    assert (ready[10501], ready[10502], ready[10503]) == ("Transferred", "Ready for transfer", "Transferred")
    assert {"10501", "10503"} <= in_visma and "10502" not in in_visma
    for record in captured:
        line = record.json
        assert line["time_utc"] and line["time_local"] and line["run_id"] and line["tenant"] == "demo"
        assert line["data_type"] == "invoices"
    error = next(r for r in captured if r.levelno == logging.ERROR)
    assert error.previous_call and error.code_location and error.trail and error.api_user
    assert error.display_key == "10502"
