"""Quota headers and the quota fault, maintenance breaks, slowness, truncation, clock and Date."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
import requests
from lxml import etree

from severa_sync_tools.simulators.severa import SeveraSimulator

from .conftest import NOW, post, quota_headers
from .test_faults import fault_of


def test_every_answer_carries_quota_headers_counting_up(sim: SeveraSimulator) -> None:
    sim.set_quota(limit=50)
    seen = [quota_headers(post(sim, "IAPI/GetVersion")) for _ in range(3)]
    assert seen == [(50, 1), (50, 2), (50, 3)]
    sim.fail_next("NotFoundException")
    faulted = post(sim, "IAPI/GetVersion")
    assert faulted.status_code == 500
    assert quota_headers(faulted) == (50, 4)  # faults carry them too, and count


def test_quota_fault_when_the_daily_limit_is_used(sim: SeveraSimulator) -> None:
    sim.set_quota(limit=100, used=99)
    assert post(sim, "IAPI/GetVersion").status_code == 200
    over = post(sim, "IAPI/GetVersion")
    name, faultstring, description = fault_of(over)
    assert (name, faultstring, description) == (
        "QuotaLimitExceededException",
        "Quota limit reached",
        "Quota limit",
    )
    assert quota_headers(over) == (100, 101)
    assert quota_headers(post(sim, "IAPI/GetVersion")) == (100, 102)  # still refused, still counted


def test_quota_resets_when_the_utc_day_changes(sim: SeveraSimulator) -> None:
    sim.set_quota(limit=10, used=10)
    assert fault_of(post(sim, "IAPI/GetVersion"))[0] == "QuotaLimitExceededException"
    sim.set_clock(frozen_at=NOW.replace(hour=0) + timedelta(days=1, seconds=5))
    assert quota_headers(post(sim, "IAPI/GetVersion")) == (10, 1)


def test_concurrent_calls_are_all_counted(sim: SeveraSimulator) -> None:
    statuses: list[int] = []

    def worker() -> None:
        for _ in range(10):
            statuses.append(post(sim, "IAPI/GetVersion").status_code)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 60
    assert len(sim.calls) == 60
    assert quota_headers(post(sim, "IAPI/GetVersion"))[1] == 61


def test_maintenance_answers_503_html_then_recovers(sim: SeveraSimulator) -> None:
    sim.maintenance(calls=2)
    for _ in range(2):
        response = post(sim, "IAPI/GetVersion")
        assert response.status_code == 503
        assert response.headers["Content-Type"].startswith("text/html")
        assert b"maintenance" in response.content and b"Envelope" not in response.content
    assert post(sim, "IAPI/GetVersion").status_code == 200
    assert [c.status for c in sim.calls] == [503, 503, 200]


def test_open_ended_maintenance_lasts_until_cleared(sim: SeveraSimulator) -> None:
    sim.maintenance()
    assert {post(sim, "IAPI/GetVersion").status_code for _ in range(4)} == {503}
    sim.maintenance(calls=0)
    assert post(sim, "IAPI/GetVersion").status_code == 200


def test_timed_maintenance_of_zero_seconds_is_over(sim: SeveraSimulator) -> None:
    sim.maintenance(seconds=0)
    assert post(sim, "IAPI/GetVersion").status_code == 200


def test_slow_answers_outlast_a_short_client_timeout(sim: SeveraSimulator) -> None:
    sim.slow(3, operation="IAPI/GetVersion")
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(sim, "IAPI/GetVersion", timeout=0.3)
    # Only the one call was slowed: the next one answers at once.
    assert post(sim, "IAPI/GetVersion", timeout=2).status_code == 200


def test_truncated_answer_is_not_well_formed(sim: SeveraSimulator) -> None:
    sim.truncate_next(operation="IHourEntry/GetHourEntriesChangedSince")
    params = "<startDate>2000-01-01T00:00:00Z</startDate>"
    assert post(sim, "IAPI/GetVersion").status_code == 200  # other operations are not affected
    cut = post(sim, "IHourEntry/GetHourEntriesChangedSince", params)
    assert cut.status_code == 200
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(cut.content)
    whole = post(sim, "IHourEntry/GetHourEntriesChangedSince", params)
    etree.fromstring(whole.content)
    # Cut in the middle of a record: some whole records made it, the rest did not.
    assert 0 < cut.content.count(b"</a:HourEntry>") < whole.content.count(b"</a:HourEntry>")
    body = cut.content.split(b"<s:Body>", 1)[1]
    assert whole.content.split(b"<s:Body>", 1)[1].startswith(body)


@pytest.mark.parametrize(
    "operation,params",
    [
        ("IAPI/GetVersion", ""),
        ("ICustomer/GetCustomerByGUID", "<accountGuid>{guid}</accountGuid>"),
    ],
)
def test_small_answers_are_truncated_too(sim: SeveraSimulator, operation: str, params: str) -> None:
    sim.truncate_next()
    response = post(sim, operation, params.format(guid=sim.records("Customer")[0]["GUID"]))
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(response.content)


def test_date_header_follows_the_simulator_clock(sim: SeveraSimulator) -> None:
    assert sim.now() == NOW  # an explicit `now` freezes the clock
    assert parsedate_to_datetime(post(sim, "IAPI/GetVersion").headers["Date"]) == NOW
    sim.set_clock(frozen_at=NOW, offset=timedelta(minutes=7, seconds=30))
    assert parsedate_to_datetime(post(sim, "IAPI/GetVersion").headers["Date"]) == NOW + timedelta(
        minutes=7, seconds=30
    )
    assert sim.calls[-1].at == NOW + timedelta(minutes=7, seconds=30)


def test_unfrozen_clock_follows_real_time_with_the_offset(sim: SeveraSimulator) -> None:
    sim.set_clock(offset=timedelta(days=-400))
    real_before = datetime.now(UTC)
    simulated = sim.now()
    real_after = datetime.now(UTC)
    assert real_before - timedelta(days=400) <= simulated <= real_after - timedelta(days=400)
    assert simulated.utcoffset() == timedelta(0)
