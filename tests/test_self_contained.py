"""The repository is self-contained: no tracked file cites or reads a path outside the repository root.

Code, tests and docs cite the project's own documents (``docs/reference/...``), never a sibling
directory next to the checkout; a fresh clone must run and test without one.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Spelled in two parts so this file does not match itself.
SIBLING_REFERENCE = "shared/" + "reference"
#: ``Path(__file__).resolve().parents[N]`` (or ``.parent.parent``): the directory must be in the repo.
PARENTS = re.compile(r"Path\(__file__\)\.resolve\(\)((?:\.parent\b)+|\.parents\[(\d+)\])")
#: A root constant's parent (``ROOT.parent``, ``REPO_ROOT.parent``) is outside the repository by definition.
ROOT_PARENT = re.compile(r"\b\w*ROOT\.parents?\b")
#: A relative ``../`` path (not the ``.../`` of an elided URL).
RELATIVE = re.compile(r"(?<![.\w/])((?:\.\./)+)([\w.-]*)")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
    ).stdout
    files = []
    for name in filter(None, listed.split("\0")):
        path = ROOT / name
        if name == "uv.lock" or not path.is_file():
            continue
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        files.append(path)
    return files


@pytest.fixture(scope="module")
def files() -> list[Path]:
    found = tracked_text_files()
    assert found, "git ls-files listed nothing"
    # This file spells the forbidden forms out as examples for its own checks.
    return [path for path in found if path != Path(__file__).resolve()]


def inside(path: Path) -> bool:
    return path.resolve().is_relative_to(ROOT)


def test_no_file_cites_the_sibling_reference_directory(files):
    citing = [str(p.relative_to(ROOT)) for p in files if SIBLING_REFERENCE in p.read_text(encoding="utf-8")]
    assert not citing, f"cite docs/reference/ in the repository instead of ../{SIBLING_REFERENCE}: {citing}"


def test_module_relative_paths_stay_inside_the_repository(files):
    outside = []
    for path in files:
        if path.suffix != ".py":
            continue
        for match in PARENTS.finditer(path.read_text(encoding="utf-8")):
            depth = int(match.group(2)) + 1 if match.group(2) else match.group(1).count(".parent")
            if not inside(path.parents[depth - 1] if depth <= len(path.parents) else Path("/")):
                outside.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
        outside += [
            f"{path.relative_to(ROOT)}: {m.group(0)}"
            for m in ROOT_PARENT.finditer(path.read_text(encoding="utf-8"))
        ]
    assert not outside, f"paths above the repository root: {outside}"


def test_relative_paths_stay_inside_the_repository(files):
    outside = []
    for path in files:
        for match in RELATIVE.finditer(path.read_text(encoding="utf-8")):
            if not inside(path.parent / match.group(1) / match.group(2)):
                outside.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert not outside, f"relative paths leaving the repository: {outside}"


def test_the_checks_catch_what_they_are_for(tmp_path):
    assert PARENTS.search("ROOT = Path(__file__).resolve().parents[3]").group(2) == "3"
    assert ROOT_PARENT.search('REFERENCE = ROOT.parent / "x" / "y.md"')
    assert RELATIVE.search("see ../x/y.md").group(1) == "../"
    assert not RELATIVE.search("its WSDL at .../API.svc/WSDL")
    assert not inside(ROOT / ".." / "elsewhere")
