"""Where one run is: the watermark as stored and as this run last wrote it, its resume point, the
window size to remember. Every write is conditional on the value the run last saw, so an operator's
edit meanwhile wins (the run says it kept it, and ends)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import NoReturn

from severa_sync.engine.context import HandEdited, RunContext
from severa_sync.engine.ports import WatermarkState
from severa_sync.engine.resume import FallbackProgress, ResumePoint, UnreadableResume
from severa_sync.logs import RunLog
from severa_sync.timeutil import format_watermark, parse_watermark


def own_resume(stored: WatermarkState, log: RunLog) -> WatermarkState:
    """``stored`` without a resume point that is not this watermark's: one left in place when the
    watermark was edited by hand in the console, or a map that is no resume point (edited by hand).
    The operator's value wins, the run says so, and it starts from the watermark."""
    resume = stored.resume
    if resume is None:
        return stored
    if isinstance(resume, UnreadableResume):
        log.warning(
            f"The stored resume point is unreadable ({resume.problem}): ignoring it; the run starts "
            "from the watermark",
            action="resume_ignored",
            watermark_new=stored.raw,
        )
        return replace(stored, resume=None)
    if resume.belongs_to(stored.raw):
        return stored
    log.warning(
        f"The stored resume point belongs to watermark {resume.for_watermark or 'not set'}, not to "
        f"{stored.raw or 'not set'} (changed by hand): ignoring it; the run starts from the watermark",
        action="resume_ignored",
        watermark_old=resume.for_watermark,
        watermark_new=stored.raw,
    )
    return replace(stored, resume=None)


class Progress:
    def __init__(self, run: RunContext):
        self._run = run
        stored = run.stored
        #: The watermark as this run last wrote it (the stored one until it writes).
        self.current: datetime | None = stored.watermark
        self.current_resume: ResumePoint | None = stored.resume
        #: The raw value the next conditional write expects.
        self.expected_raw: str | None = stored.raw
        #: The window size to remember (RANGE kinds and date-windowed fallbacks).
        self.window_seconds: int | None = stored.window_seconds
        #: A window was split this run (the remembered size does not grow back).
        self.split = False
        #: Watermark writes; the engine logs one INFO line for all of them.
        self.writes = 0

    def checkpoint(self, new: datetime | None, *, resume: ResumePoint | None = None) -> None:
        """Write the watermark (``new`` None: only the resume point) conditionally on the value this
        run last saw. Every resume point is stamped with the watermark it belongs to, so one left
        behind by a hand edit is recognised and ignored (``own_resume``)."""
        run = self._run
        run.keep_lock()
        old_raw = self.expected_raw
        if new is None:
            stamped = None if resume is None else resume.stamped(old_raw)
            if not run.state.save_resume(
                run.tenant, run.dt.name, stamped, expected_raw=old_raw, window_seconds=self.window_seconds
            ):
                self.kept_hand_edit(old_raw, "the resume point")
            self.current_resume = stamped
            return
        stamped = None if resume is None else resume.stamped(format_watermark(new))
        if old_raw is not None and parse_watermark(old_raw) == new and stamped == self.current_resume:
            return
        written = run.state.write_watermark(
            run.tenant,
            run.dt.name,
            new,
            expected_raw=old_raw,
            run_id=run.run_id,
            window_seconds=self.window_seconds,
            resume=stamped,
        )
        if not written:
            self.kept_hand_edit(old_raw, format_watermark(new))
        self.expected_raw = format_watermark(new)
        self.current, self.current_resume = new, stamped
        self.writes += 1
        run.log.debug(
            f"Watermark advanced to {self.expected_raw}",
            action="watermark_advanced",
            watermark_old=old_raw,
            watermark_new=self.expected_raw,
        )

    def save_cursor(self, resume: FallbackProgress | None, cursor: datetime) -> None:
        """A resumable read (the date-windowed fallback) remembers where the next one starts."""
        if resume is not None:
            self.checkpoint(None, resume=FallbackProgress(signpost=resume.signpost, cursor=cursor))

    def kept_hand_edit(self, old_raw: str | None, not_written: str) -> NoReturn:
        run = self._run
        current = run.state.read_watermark(run.tenant, run.dt.name)
        run.log.warning(
            f"The watermark was changed by hand during the run (now {current.raw}); keeping the hand-set "
            "value and ending this run",
            action="watermark_kept_hand_edit",
            watermark_old=old_raw,
            watermark_new=current.raw,
            watermark_not_written=not_written,
        )
        raise HandEdited
