"""Texts holding Unicode line separators (issue 11 class 2): U+2028, U+2029 and U+0085 (what a
mis-decoded cp1252 "..." becomes) in hour-entry descriptions, absence names and customer names.

They must arrive intact (``checks.final_problems`` compares the texts), and every S3 file must stay
JSON Lines for any reader, including those that split lines on these characters too
(``str.splitlines``, JavaScript): ``jsonl_problems``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .stack import TENANT

if TYPE_CHECKING:
    from .dataset import Company
    from .world import World

#: Changes to Severa data this module makes (``dataset.Company.change``), by the type they touch.
TEXT_CHANGES = {
    "hour_entries": "line_separators_in_description",
    "absences": "line_separators_in_absence_name",
    "accounts": "line_separators_in_customer_name",
}
#: The separators, inside the text (a name's ends are trimmed by design: the middle must stay).
SEPARATED = "one\u2028two\u2029three\x85four"
BREAKERS = ("\u2028", "\u2029", "\x85")


def text_change(company: Company, kind: str, now: Any) -> str | None:
    """Apply one of ``TEXT_CHANGES``; None for any other kind."""
    if kind == "line_separators_in_description" and (row := company._pick("HourEntry")):
        text = f"{SEPARATED} {company._next()}"
        company.sim.upsert("HourEntry", {"GUID": row["GUID"], "Description": text}, at=now)
        return f"hour entry {row['GUID'][:8]} described with line separators"
    if kind == "line_separators_in_absence_name" and (
        row := company._pick("Activity", lambda r: r.get("ActivityTypeGUID") in _absence_types())
    ):
        name = f"{row['Name'].split(' #')[0]} {SEPARATED} #{company._next()}"
        company.sim.upsert("Activity", {"GUID": row["GUID"], "Name": name}, at=now)
        return f"absence {row['Name']!r} renamed with line separators"
    if kind == "line_separators_in_customer_name" and (
        row := company._pick("Customer", lambda r: r.get("Number"))
    ):
        name = f"{row['Name'].split(' #')[0]} {SEPARATED} #{company._next()}"
        company.sim.upsert("Customer", {"GUID": row["GUID"], "Name": name}, at=now)
        return f"customer {row['Number']} renamed with line separators"
    return None


def _absence_types() -> tuple[str, ...]:
    from .dataset import ABSENCE_TYPES

    return ABSENCE_TYPES


def jsonl_problems(world: World) -> list[str]:
    """Every export object is JSON Lines for any reader: one JSON object per ``\\n`` line, and no
    character another reader would take for a line end (the separators must be written escaped)."""
    aws, problems = world.aws, []
    prefix = f"{world.config.export_prefix}/tenant={TENANT}/"
    for page in aws.s3.get_paginator("list_objects_v2").paginate(Bucket=aws.bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            text = aws.s3.get_object(Bucket=aws.bucket, Key=item["Key"])["Body"].read().decode()
            raw = [c for c in BREAKERS if c in text]
            if raw:
                problems.append(
                    f"{item['Key']} holds raw line separators {raw!r}: not JSON Lines for every reader"
                )
            for number, line in enumerate(text.split("\n"), start=1):
                if line.strip() and not isinstance(_json(line), dict):
                    problems.append(f"{item['Key']} line {number} is not a JSON object: {line[:120]!r}")
    return problems


def _json(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None
