"""The data types, looked up by name, in dependency order.

Each type is declared once, in its own module of ``severa_sync.datatypes``; this module is how the
rest of the layer finds them. The handlers (``functions/<name>/app.py``), the engine, the adapters,
the demo's run order and the generated regions of ``template.yaml`` (``make template``) all follow
the declarations.
"""

from __future__ import annotations

from severa_sync.datatypes import DATA_TYPES
from severa_sync.datatypes.model import DataType, TargetKind, WindowKind

__all__ = ["BY_NAME", "DATA_TYPES", "DataType", "TargetKind", "WindowKind", "get", "run_order"]

BY_NAME: dict[str, DataType] = {dt.name: dt for dt in DATA_TYPES}


def get(name: str) -> DataType:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown data type {name!r}; known: {', '.join(BY_NAME)}") from None


def run_order() -> list[DataType]:
    """Data types with dependencies first (a stable topological order of the registry)."""
    done: list[DataType] = []
    pending = list(DATA_TYPES)
    while pending:
        ready = [dt for dt in pending if all(dep in {d.name for d in done} for dep in dt.depends_on)]
        if not ready:
            raise ValueError("dependency cycle in the data-type registry")
        done.extend(ready)
        pending = [dt for dt in pending if dt not in ready]
    return done
