"""The Lambda layer ships the runtime dependencies and nothing else.

``sam build`` installs the layer from ``shared/requirements.txt``; ``pyproject.toml`` declares the same
set as ``[project.dependencies]``, plus boto3, which the Lambda runtime provides (template.yaml says so). The operator tooling (rich, moto) is the ``tools`` extra, which
``make install`` adds for the CLI, the demo and the tests, and no layer module imports it.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LAYER_REQUIREMENTS = ROOT / "shared" / "requirements.txt"
TOOLING = {"rich", "moto"}
#: In [project.dependencies] (the code imports it) but not in the layer: Lambda's Python runtime has it.
RUNTIME_PROVIDED = {"boto3"}


def normalized(requirements: list[str]) -> set[tuple[str, tuple[str, ...], str, str]]:
    out = set()
    for text in requirements:
        req = Requirement(text)
        out.add(
            (
                canonicalize_name(req.name),
                tuple(sorted(req.extras)),
                str(req.specifier),
                str(req.marker or ""),
            )
        )
    return out


def layer_requirements() -> list[str]:
    lines = LAYER_REQUIREMENTS.read_text(encoding="utf-8").splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def test_the_layer_requirements_are_the_projects_runtime_dependencies():
    runtime = normalized(PYPROJECT["project"]["dependencies"])
    # The one runtime dependency the layer leaves out is the one the Lambda runtime provides.
    provided = {req for req in runtime if req[0] in RUNTIME_PROVIDED}
    assert {req[0] for req in provided} == RUNTIME_PROVIDED
    assert normalized(layer_requirements()) == runtime - provided, (
        "shared/requirements.txt must list exactly [project.dependencies] of pyproject.toml (boto3 aside)"
    )


def test_boto3_is_left_to_the_lambda_runtime_as_the_template_says():
    template = (ROOT / "template.yaml").read_text(encoding="utf-8")
    assert "(boto3 comes from the runtime)" in template
    assert "boto3" not in {name for name, *_ in normalized(layer_requirements())}


def test_operator_tooling_is_an_extra_not_a_runtime_dependency():
    runtime = {name for name, *_ in normalized(PYPROJECT["project"]["dependencies"])}
    assert not runtime & TOOLING, f"{sorted(runtime & TOOLING)} would go into the Lambda layer"
    tools = {name for name, *_ in normalized(PYPROJECT["project"]["optional-dependencies"]["tools"])}
    assert tools >= TOOLING


def test_make_install_includes_the_tools_extra():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    syncs = re.findall(r"^\t.*\buv\b.* sync .*$|^\t\$\(UV\) sync .*$", makefile, re.M)
    assert syncs, "make install syncs the environment from uv.lock"
    assert all("--extra tools" in line for line in syncs), syncs


def test_no_layer_module_imports_the_tooling():
    offenders = []
    for path in sorted((ROOT / "shared" / "severa_sync").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [
                f"{path.relative_to(ROOT)}: {name}" for name in names if name.split(".")[0] in TOOLING
            ]
    assert not offenders, offenders
