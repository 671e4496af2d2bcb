"""Every alert says what to do: each alert kind the code can send has its runbook section
(``### `<kind>``` in docs/operations.md, so ``docs/operations.md#<kind>`` leads there).

The kinds are collected from the source, not listed by hand: the error classes' ``alert_kind``, every
kind handed to the engine's ``_alert`` or to an ``Alert(kind=...)`` anywhere in the layer (literal or
a module constant such as ``parked.DROPPED_ALERT`` or ``config_store.ALERT_KIND``), the retry
machine's alert states, and every ``docs/operations.md#<anchor>`` written in the layer's code and
state machines."""

from __future__ import annotations

import ast
import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

from severa_sync import errors
from severa_sync.runbook import RUNBOOK, section

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "shared" / "severa_sync"
ANCHOR = re.compile(r"operations\.md#([A-Za-z0-9_-]+)")


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        dotted = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        yield dotted.removesuffix(".__init__"), ast.parse(path.read_text(encoding="utf-8"))


def _value(module: str, node: ast.expr) -> str:
    """A kind argument: a string literal, or a name/attribute the module resolves to a string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    namespace = importlib.import_module(module)
    if isinstance(node, ast.Name):
        value = getattr(namespace, node.id)
    elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        value = getattr(getattr(namespace, node.value.id), node.attr)
    else:
        raise AssertionError(f"{module}: alert kind {ast.unparse(node)} is not a literal or a constant")
    assert isinstance(value, str), f"{module}: {ast.unparse(node)} is not a string"
    return value


class _AlertKinds(ast.NodeVisitor):
    """Kinds a module sends; a kind that is the enclosing function's parameter is passed through
    (``_alert(log, kind, ...)`` builds ``Alert(kind=kind)``): its callers are collected instead."""

    def __init__(self, module: str):
        self.module = module
        self.kinds: set[str] = set()
        self._parameters: list[set[str]] = [set()]

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        self._parameters.append({a.arg for a in arguments})
        self.generic_visit(node)
        self._parameters.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def _add(self, node: ast.expr) -> None:
        if isinstance(node, ast.Name) and node.id in self._parameters[-1]:
            return
        if isinstance(node, ast.Attribute) and node.attr == "alert_kind":
            return  # an error's own kind: the error classes are walked below
        self.kinds.add(_value(self.module, node))

    def visit_Assign(self, node: ast.Assign) -> None:
        named = any(isinstance(t, ast.Name) and t.id == "alert_kind" for t in node.targets)
        if named and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            self._add(node.value)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name == "_alert" and len(node.args) >= 2:
            self._add(node.args[1])
        if name == "Alert":
            for keyword in node.keywords:
                if keyword.arg == "kind":
                    self._add(keyword.value)
        self.generic_visit(node)


def _code_alert_kinds() -> set[str]:
    kinds: set[str] = set()
    for module, tree in _modules():
        visitor = _AlertKinds(module)
        visitor.visit(tree)
        kinds |= visitor.kinds
    return kinds


def _error_alert_kinds() -> set[str]:
    import severa_sync.targets.visma.wire  # noqa: F401 - its error classes alert too

    kinds, pending = set(), [errors.SyncError]
    while pending:
        cls = pending.pop()
        if cls.alert_kind:
            kinds.add(cls.alert_kind)
        pending.extend(cls.__subclasses__())
    return kinds


def _machine_alert_kinds() -> set[str]:
    kinds: set[str] = set()
    for path in sorted((ROOT / "infra" / "statemachines").glob("*.json")):
        definition = json.loads(path.read_text(encoding="utf-8"))
        kinds |= {
            state["Parameters"]["kind"]
            for state in definition["States"].values()
            if "kind" in state.get("Parameters", {})
        }
    return kinds


def _written_anchors() -> set[str]:
    paths = [*PACKAGE.rglob("*.py"), *(ROOT / "infra").rglob("*.json")]
    return {anchor for path in paths for anchor in ANCHOR.findall(path.read_text(encoding="utf-8"))}


def _headings() -> set[str]:
    text = (ROOT / RUNBOOK).read_text(encoding="utf-8")
    return set(re.findall(r"^### `([a-z_]+)`$", text, flags=re.M))


def test_the_collection_finds_every_way_an_alert_is_sent() -> None:
    kinds = _code_alert_kinds()
    # Literal kinds in the engine, a constant from parked.py, an alias imported from config_store.
    assert {"unexpected_error", "schema_change", "record_errors"} <= kinds
    assert {"parked_record_dropped", "invalid_configuration"} <= kinds
    assert {"connection", "quota"} <= kinds  # error classes' alert_kind
    assert "retries_exhausted" in _machine_alert_kinds()
    assert {"retries_exhausted", "export_file_unreadable"} <= _written_anchors()


def test_every_alert_kind_has_a_runbook_section() -> None:
    kinds = _code_alert_kinds() | _error_alert_kinds() | _machine_alert_kinds()
    assert {"connection", "response_too_large", "retries_exhausted", "unexpected_error"} <= kinds
    assert kinds - _headings() == set(), "alert kinds without a runbook section"
    assert section("quota") == "docs/operations.md#quota"


def test_every_runbook_link_in_the_code_leads_to_a_section() -> None:
    assert _written_anchors() - _headings() == set(), "docs/operations.md#... links to no section"
