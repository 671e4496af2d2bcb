"""Where a partial run stopped: the typed resume points kept beside a watermark.

A resume point is stored in the watermark item's ``resume`` map, which operators see in the console
and may edit or delete (docs/operations.md). The models here are that map's only readers and writers
(``to_item`` / ``parse_resume``), so its shape is defined once and every kind is a type:

- ``RecentChanges``: a SINCE read's last changes inside the overlap (the next run drops the repeats);
- ``FallbackProgress``: the paged or date-windowed fallback read, its signpost and cursor;
- ``ImageProgress``: the by-date read of hour-entry days still to read (``engine.images``);
- ``RetryDays``: days too slow to read even alone, read again by the next run.

Every point is stamped with the watermark it belongs to (``for_watermark``), so one left behind by a
hand edit of the watermark is recognised and ignored; a point written before stamping has none.
A map that is none of these (edited by hand) parses as ``UnreadableResume``: the run ignores it,
says so, and starts from the watermark, which is always safe (the watermark never passes undelivered
data; a resume point only saves re-reading).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, ValidationError

from severa_sync.timeutil import format_watermark, parse_watermark

#: A watermark-format time (``2026-11-20T05:30:00Z``), as stored.
Watermark = Annotated[
    datetime,
    BeforeValidator(lambda v: parse_watermark(v) if isinstance(v, str) else v),
    PlainSerializer(format_watermark, return_type=str),
]
#: Days from the first to the last, both included.
Span = tuple[date, date]


class ResumePoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    #: The watermark value this point belongs to (None: the watermark was not set yet).
    for_watermark: str | None = None

    def stamped(self, watermark_raw: str | None) -> Self:
        """This point, as belonging to ``watermark_raw``."""
        return self.model_validate({**self.to_item(), "for_watermark": watermark_raw})

    def belongs_to(self, watermark_raw: str | None) -> bool:
        """False only for a point stamped with another watermark value (one edited by hand)."""
        return "for_watermark" not in self.model_fields_set or self.for_watermark == watermark_raw

    def to_item(self) -> dict[str, Any]:
        """The map stored in the watermark item (JSON types only)."""
        item = self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"for_watermark"})
        if "for_watermark" in self.model_fields_set:
            item["for_watermark"] = self.for_watermark
        return item


class RecentChanges(ResumePoint):
    #: Key -> short content hash of the records changed inside the overlap (``watermark.OverlapFilter``).
    recent: dict[str, str]


class FallbackProgress(ResumePoint):
    mode: Literal["fallback"] = "fallback"
    #: The run's signpost when the fallback began: it ends there, whenever it is resumed.
    signpost: Watermark | None = None
    #: Date-windowed fallbacks: where the next window starts.
    cursor: Watermark | None = None


class ImageProgress(ResumePoint):
    mode: Literal["images"] = "images"
    #: The watermark the plan was made from; a point made from another one is not resumed.
    from_: str | None = Field(default=None, alias="from")
    signpost: Watermark
    pending: list[Span]
    unreadable: list[date] = []


class RetryDays(ResumePoint):
    retry_days: list[date]


class UnreadableResume(ResumePoint):
    """A stored map that is no resume point this version writes; never stored back."""

    problem: str


def parse_resume(item: Mapping[str, Any] | None) -> ResumePoint | None:
    """The stored map as its resume point (``UnreadableResume`` when it is none of them)."""
    if not item:
        return None
    mode = item.get("mode")
    kind: type[ResumePoint]
    if mode == "fallback":
        kind = FallbackProgress
    elif mode == "images":
        kind = ImageProgress
    elif "recent" in item:
        kind = RecentChanges
    elif "retry_days" in item:
        kind = RetryDays
    else:
        return UnreadableResume(problem=f"not a resume point this version writes (keys {sorted(item)})")
    try:
        return kind.model_validate(dict(item))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "resume"
        return UnreadableResume(problem=f"{kind.__name__}: {where}: {first['msg']}")
