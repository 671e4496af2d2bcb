"""S3 exports as an exact image (issue 11 classes 1, 2): day files replaced whole by a day window,
JSON Lines that every reader splits the same way, and an unreadable file that alerts with a way out."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from severa_sync.engine.days import day_window
from severa_sync.errors import ExportFileUnreadable
from severa_sync.targets.s3 import S3ExportTarget

from .test_s3_export import BUCKET, HOURS, config, day_key, entry, guids, s3, target  # noqa: F401

SEPARATORS = "before\u2028line\u2029para\x85ellipsis after"


def raw(s3: Any, key: str) -> bytes:  # noqa: F811
    return bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_line_separators_in_texts_are_escaped_so_every_reader_sees_one_line(
    s3: Any,  # noqa: F811
    target: S3ExportTarget,  # noqa: F811
) -> None:
    target.deliver(HOURS, [entry("e1", "2026-11-20", SEPARATORS), entry("e2", "2026-11-20")])
    target.flush(HOURS, None)
    body = raw(s3, day_key("2026-11-20")).decode("utf-8")
    # str.splitlines (and JavaScript, and many JSON Lines readers) split on these too.
    assert len(body.splitlines()) == 2
    assert "\u2028" not in body and "\u2029" not in body and "\x85" not in body
    assert json.loads(body.splitlines()[0])["Description"] == SEPARATORS
    # And the next run, which reads the file back to merge into it, still works.
    target.deliver(HOURS, [entry("e3", "2026-11-20")])
    target.flush(HOURS, None)
    assert guids(s3, day_key("2026-11-20")) == ["e1", "e2", "e3"]


def test_a_file_written_with_raw_separators_is_read_by_newlines_and_repaired(
    s3: Any,  # noqa: F811
    target: S3ExportTarget,  # noqa: F811
) -> None:
    old = json.dumps({"GUID": "e1", "Description": SEPARATORS}, ensure_ascii=False) + "\n"
    s3.put_object(Bucket=BUCKET, Key=day_key("2026-11-20"), Body=old.encode("utf-8"))
    target.deliver(HOURS, [entry("e2", "2026-11-20")])
    target.flush(HOURS, None)
    body = raw(s3, day_key("2026-11-20")).decode("utf-8")
    assert [json.loads(line)["GUID"] for line in body.splitlines()] == ["e1", "e2"]
    assert json.loads(body.splitlines()[0])["Description"] == SEPARATORS


def test_an_unreadable_file_alerts_and_a_day_window_replaces_it_whole(
    s3: Any,  # noqa: F811
    target: S3ExportTarget,  # noqa: F811
) -> None:
    s3.put_object(Bucket=BUCKET, Key=day_key("2026-11-20"), Body=b'{"GUID":"e1"}\nnot json\n')
    target.deliver(HOURS, [entry("e2", "2026-11-20")])
    with pytest.raises(ExportFileUnreadable, match="line 2") as caught:
        target.flush(HOURS, None)
    assert caught.value.alert_kind == "export_file_unreadable"
    assert "replaces it whole" in caught.value.message
    # The way out: the day read whole from Severa replaces the file without reading it, even
    # when the window's records come in more than one flush.
    target.begin_window(HOURS, day_window(date(2026, 11, 20), date(2026, 11, 20)))
    target.deliver(HOURS, [entry("e3", "2026-11-20")])
    target.flush(HOURS, None)  # mid-window
    target.deliver(HOURS, [entry("e2", "2026-11-20")])
    target.flush(HOURS, day_window(date(2026, 11, 20), date(2026, 11, 20)))
    assert guids(s3, day_key("2026-11-20")) == ["e3", "e2"]


def test_a_day_window_replaces_its_days_and_empties_days_now_empty(
    s3: Any,  # noqa: F811
    target: S3ExportTarget,  # noqa: F811
) -> None:
    target.deliver(HOURS, [entry("gone", "2026-11-19"), entry("e1", "2026-11-20"), entry("x", "2026-11-23")])
    target.flush(HOURS, None)
    # Severa deleted "gone" and listed e1 under another GUID (the February 2020 incident).
    target.begin_window(HOURS, day_window(date(2026, 11, 19), date(2026, 11, 22)))
    target.deliver(HOURS, [entry("e1-other-guid", "2026-11-20")])
    target.flush(HOURS, day_window(date(2026, 11, 19), date(2026, 11, 22)))
    assert guids(s3, day_key("2026-11-19")) == []
    assert guids(s3, day_key("2026-11-20")) == ["e1-other-guid"]
    assert guids(s3, day_key("2026-11-23")) == ["x"]  # not covered: untouched
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=day_key("2026-11-21"))
    # ...and back: the image follows.
    target.deliver(HOURS, [entry("e1", "2026-11-20")])
    target.flush(HOURS, day_window(date(2026, 11, 20), date(2026, 11, 20)))
    assert guids(s3, day_key("2026-11-20")) == ["e1"]


def test_a_mid_window_flush_counts_toward_the_day_it_replaces(
    s3: Any,  # noqa: F811
    target: S3ExportTarget,  # noqa: F811
) -> None:
    target.deliver(HOURS, [entry("stale", "2026-11-20")])
    target.flush(HOURS, None)
    target.begin_window(HOURS, day_window(date(2026, 11, 20), date(2026, 11, 20)))
    target.deliver(HOURS, [entry("e1", "2026-11-20")])
    target.flush(HOURS, None)  # mid-window
    target.deliver(HOURS, [entry("e2", "2026-11-20")])
    target.flush(HOURS, day_window(date(2026, 11, 20), date(2026, 11, 20)))
    assert guids(s3, day_key("2026-11-20")) == ["e1", "e2"]


class CountingPuts:
    """The S3 client, counting PutObject calls."""

    def __init__(self, client: Any):
        self._s3, self.puts = client, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def put_object(self, **kwargs: Any) -> Any:
        self.puts += 1
        return self._s3.put_object(**kwargs)


def test_unchanged_lines_count_as_skipped_and_their_file_is_not_written(
    s3: Any,  # noqa: F811
    target: S3ExportTarget,  # noqa: F811
    store: Any,
    config: Any,  # noqa: F811
    clock: Any,
) -> None:
    """A run with no change reports delivered 0 (it used to "deliver" every line it re-read)."""
    window = day_window(date(2026, 11, 20), date(2026, 11, 21))
    batch = [entry("e1", "2026-11-20"), entry("e2", "2026-11-20"), entry("e3", "2026-11-21")]
    target.begin_window(HOURS, window)
    assert target.deliver(HOURS, batch).delivered == batch
    target.flush(HOURS, window)
    before = raw(s3, day_key("2026-11-20"))

    clock.advance(hours=1)  # the next run: nothing changed in Severa
    counting = CountingPuts(s3)
    rerun = S3ExportTarget(counting, store, config, clock=clock)  # type: ignore[arg-type]
    rerun.begin_window(HOURS, window)
    delivery = rerun.deliver(HOURS, batch)
    assert delivery.skipped == batch and delivery.delivered == []
    rerun.flush(HOURS, window)
    assert counting.puts == 0 and raw(s3, day_key("2026-11-20")) == before  # _synced_at kept

    # One entry edited, one file lost by an operator: those lines are delivered, the rest skipped.
    s3.delete_object(Bucket=BUCKET, Key=day_key("2026-11-21"))
    edited = [entry("e1", "2026-11-20", "corrected"), *batch[1:]]
    rerun.begin_window(HOURS, window)
    delivery = rerun.deliver(HOURS, edited)
    assert [r.key for r in delivery.delivered] == ["e1", "e3"] and [r.key for r in delivery.skipped] == ["e2"]
    rerun.flush(HOURS, window)
    assert guids(s3, day_key("2026-11-20")) == ["e1", "e2"] and guids(s3, day_key("2026-11-21")) == ["e3"]
    lines = [json.loads(line) for line in raw(s3, day_key("2026-11-20")).decode().splitlines()]
    assert lines[0]["Description"] == "corrected" and lines[0]["_synced_at"] != lines[1]["_synced_at"]
