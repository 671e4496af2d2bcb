"""The pure watermark rules and the bounded overlap memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from severa_sync.engine import watermark as wm
from severa_sync.engine.windows import LADDER, larger, plan, smaller
from tests.fakes import FakeRow, make_record

T = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OVERLAP = timedelta(minutes=2)


def rec(key: str, at: datetime, content: str = "v1"):
    return make_record(FakeRow(key, at, content), with_change_time=True)


def test_since_watermark_follows_severas_clock_and_never_moves_back():
    skew = timedelta(minutes=2)
    assert (
        wm.since_watermark(None, T, signpost_at=T + timedelta(hours=1), skew=skew, has_change_time=True) == T
    )
    capped = wm.since_watermark(None, T, signpost_at=T, skew=skew, has_change_time=True)
    assert capped == T - skew  # records changed inside the skew margin are read again next run
    assert wm.since_watermark(T, T - timedelta(days=1), signpost_at=T, skew=skew, has_change_time=True) == T
    assert (
        wm.since_watermark(T, None, signpost_at=T + timedelta(days=1), skew=skew, has_change_time=True) == T
    )
    no_change_time = wm.since_watermark(None, None, signpost_at=T, skew=skew, has_change_time=False)
    assert no_change_time == T - skew


def test_watermark_is_never_rounded():
    odd = T + timedelta(seconds=41, microseconds=123)
    assert (
        wm.since_watermark(None, odd, signpost_at=T + timedelta(hours=1), skew=OVERLAP, has_change_time=True)
        == odd
    )


def test_recent_changes_remember_only_the_overlap_and_stay_bounded():
    recent = wm.RecentChanges(overlap=OVERLAP, cap=T + timedelta(hours=1), limit=10)
    for i in range(5):
        recent.add(rec(f"new{i}", T))
    for i in range(1000):
        recent.add(rec(f"old{i}", T - timedelta(hours=3)))  # below max - overlap: pruned as they come
    assert not recent.overflowed
    assert set(recent.remember(T)) == {f"new{i}" for i in range(5)}


def test_recent_changes_give_up_on_a_mass_update():
    recent = wm.RecentChanges(overlap=OVERLAP, cap=T + timedelta(hours=1), limit=10)
    for i in range(100):
        recent.add(rec(f"m{i}", T))
    assert recent.overflowed and recent.remember(T) == {}


def test_overlap_filter_drops_only_identical_content():
    remembered = wm.RecentChanges(overlap=OVERLAP, cap=T + timedelta(hours=1), limit=10)
    remembered.add(rec("a", T))
    overlap = wm.OverlapFilter(remembered.remember(T))
    assert overlap.is_repeat(rec("a", T))
    assert not overlap.is_repeat(rec("a", T, content="v2"))
    assert not overlap.is_repeat(rec("b", T))


def test_window_ladder_and_week_alignment():
    assert smaller(LADDER[0], timedelta(minutes=1)) == timedelta(days=1)
    assert smaller(timedelta(minutes=1), timedelta(minutes=1)) is None
    assert larger(timedelta(hours=1), timedelta(days=7)) == timedelta(days=1)
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/Helsinki")
    windows = list(plan(T, T + timedelta(days=9), timedelta(days=7), align_weeks=zone))
    assert all(
        w.start.astimezone(zone).weekday() == 0 and w.start.astimezone(zone).hour == 0 for w in windows
    )
    assert windows[0].start <= T and windows[-1].end >= T + timedelta(days=9)
