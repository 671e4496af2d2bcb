"""Lambda, locally: the handler loaded by path, its context, and its stdout."""

from __future__ import annotations

import io
import json

import pytest

from severa_sync_tools.local_lambda import LocalContext, MetricsSink, function_name, invoke, load_handler


def test_function_names_follow_the_template() -> None:
    assert function_name("hour_entries", "acme-prod") == "acme-prod-hour-entries"
    assert function_name("accounts", "acme-prod") == "acme-prod-accounts"


def test_context_counts_down_from_the_lambda_timeout() -> None:
    context = LocalContext(function_name="acme-prod-accounts", timeout_seconds=900)
    remaining = context.get_remaining_time_in_millis()
    assert 0 < remaining <= 900_000
    assert context.invoked_function_arn.endswith(":function:acme-prod-accounts")
    assert LocalContext(function_name="x", timeout_seconds=0).get_remaining_time_in_millis() == 0


def test_the_handler_module_is_the_function_code() -> None:
    handler = load_handler("invoices")
    assert handler is load_handler("invoices"), "loaded once per process, like a warm container"
    assert handler.__wrapped__.__code__.co_filename.endswith("severa_sync/handler.py")  # type: ignore[attr-defined]
    with pytest.raises(KeyError, match="unknown data type"):
        load_handler("receipts")


def test_an_event_for_another_type_is_refused_as_lambda_would() -> None:
    answer = invoke("accounts", {"data_type": "cases", "source": "schedule"}, name="acme-prod-accounts")
    assert answer["status"] == "failed" and answer["error_code"] == "invalid_configuration"
    assert answer["function_name"] == "acme-prod-accounts"


def test_metric_blobs_are_dropped_and_other_output_passes() -> None:
    terminal = io.StringIO()
    sink = MetricsSink(terminal)
    sink.write(json.dumps({"_aws": {"CloudWatchMetrics": []}, "RecordsFetched": [3]}) + "\n")
    sink.write("a plain print\n")
    assert (terminal.getvalue(), sink.dropped) == ("a plain print\n", 1)
