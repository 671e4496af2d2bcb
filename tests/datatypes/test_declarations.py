"""Each data type has one home (issue 13): its declaration in ``severa_sync.datatypes``.

The layer outside that package never tests a type's name, and every declaration agrees with the
Severa contract in ``severa/schema.py`` (operations, parameters in order, entity members).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from severa_sync import registry
from severa_sync.datatypes.model import Bind, DataType, S3Export, SeveraCall
from severa_sync.severa import models, schema

LAYER = Path(registry.__file__).resolve().parent
DECLARATIONS = LAYER / "datatypes"
NAMES = {dt.name for dt in registry.DATA_TYPES}
#: WSDL types of the constants a declaration may pass.
CONSTANT_TYPES = {"int": int, "int?": int, "string": str, "bool": bool}


def name_literals(source: str, names: set[str]) -> list[tuple[int, str]]:
    """(line, literal) of every string constant in ``source`` that is a data-type name."""
    return [
        (node.lineno, node.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names
    ]


def test_the_scan_finds_a_name_tested_in_code() -> None:
    code = 'def f(dt):\n    if dt.name == "invoices":\n        return {"absences": 1}\n    return f"{dt}"\n'
    assert name_literals(code, NAMES) == [(2, "invoices"), (3, "absences")]


def test_no_type_name_literal_in_the_layer_outside_the_declarations() -> None:
    found = [
        f"{path.relative_to(LAYER)}:{line}: {literal!r}"
        for path in sorted(LAYER.rglob("*.py"))
        if DECLARATIONS not in path.parents
        for line, literal in name_literals(path.read_text(encoding="utf-8"), NAMES)
    ]
    assert not found, "act on the declaration (severa_sync.datatypes), not the name:\n" + "\n".join(found)


def calls(dt: DataType) -> list[tuple[str, SeveraCall]]:
    declared = [("read", dt.read), ("by_key", dt.by_key), ("by_number", dt.by_number)]
    declared += [("fallback", dt.fallback), ("queue", dt.queue)]
    if dt.status_queue is not None:
        declared.append(("status_queue.mark", dt.status_queue.mark))
    declared += [(f"display_lookup.{lookup.member}", lookup.read) for lookup in dt.display_lookups]
    declared += [(f"attached.{attached.member}", attached.read) for attached in dt.attached]
    return [(role, call) for role, call in declared if call is not None]


EVERY_CALL = [(dt, role, call) for dt in registry.DATA_TYPES for role, call in calls(dt)]


@pytest.mark.parametrize(
    ("dt", "role", "call"), EVERY_CALL, ids=[f"{dt.name}-{role}" for dt, role, _ in EVERY_CALL]
)
def test_every_declared_call_is_the_contracts(dt: DataType, role: str, call: SeveraCall) -> None:
    op = schema.operation(call.operation)
    assert [name for name, _ in call.params] == [p.name for p in op.params], "every parameter, in order"
    for (name, value), param in zip(call.params, op.params, strict=True):
        if not isinstance(value, Bind):
            assert isinstance(value, CONSTANT_TYPES[param.type]), f"{name} is {param.type}"
    if role.startswith("display_lookup."):
        lookup = next(lk for lk in dt.display_lookups if role.endswith(f".{lk.member}"))
        assert lookup.shown in {m.name for m in schema.ENTITIES[op.returns.removesuffix("[]")]}
    elif role.startswith("attached."):
        assert op.returns.endswith("[]"), "an attached read answers a list"
        assert Bind.KEY in {v for _, v in call.params}, "it is read by the record's GUID"
        attached = next(a for a in dt.attached if role == f"attached.{a.member}")
        members = {m.name for m in schema.ENTITIES[dt.entity]}
        assert attached.member not in members, "a member of its own"
        assert attached.belongs_to is None or attached.belongs_to in members
    elif role != "status_queue.mark":
        assert op.returns.removesuffix("[]") == dt.entity, f"{call.operation} answers {op.returns}"
    paged = {Bind.PAGE_START, Bind.PAGE_SIZE} & {v for _, v in call.params if isinstance(v, Bind)}
    assert bool(paged) == (call.page_size is not None), "paged reads say their page size"


@pytest.mark.parametrize("dt", registry.DATA_TYPES, ids=lambda dt: dt.name)
def test_declared_members_exist_in_the_entity(dt: DataType) -> None:
    members = {m.name for m in schema.ENTITIES[dt.entity]}
    named = set(dt.change_time_members) | {r.member for r in dt.references + dt.display_references}
    named |= {lookup.member for lookup in dt.display_lookups}
    if isinstance(dt.export, S3Export):
        named.add(dt.export.date_member)
    if dt.status_queue is not None:
        named.add(dt.status_queue.member)
    named |= {r.rows for r in dt.row_references}
    assert named <= members
    for reference in dt.row_references:
        row_entity = next(m.base for m in schema.ENTITIES[dt.entity] if m.name == reference.rows)
        assert reference.member in {m.name for m in schema.ENTITIES[row_entity]}, "a member of the row"


@pytest.mark.parametrize("dt", registry.DATA_TYPES, ids=lambda dt: dt.name)
def test_references_are_dependencies(dt: DataType) -> None:
    for reference in (*dt.references, *dt.row_references):
        assert reference.data_type in dt.depends_on, "a referenced type runs first"
        assert registry.get(reference.data_type).by_key is not None, "it can be read on demand"


@pytest.mark.parametrize("dt", registry.DATA_TYPES, ids=lambda dt: dt.name)
def test_display_key_of_a_bare_record_is_its_guid_or_nothing(dt: DataType) -> None:
    record = getattr(models, dt.entity)(GUID="g-1")
    assert dt.display_key(record, {}) in (None, "g-1")


def test_the_status_queue_types_reread_by_key_and_have_a_queue_read() -> None:
    for dt in registry.DATA_TYPES:
        if dt.status_queue is not None:
            assert dt.by_key is not None and dt.queue is not None, dt.name
