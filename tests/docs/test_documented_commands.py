"""Every ``severa-sync`` command and flag written in README.md and docs/*.md exists (issue 12).

Command lines are taken from fenced code blocks and inline code spans, tokenized like a shell, and
walked through the real argparse parser (``severa_sync_tools.cli.build_parser``) without running
anything: command words must be sub-commands, ``--flags`` options of the command they follow,
positional words one of the argument's choices unless they are placeholders (``TYPE``, ``FILE``,
``<stack>``, ``[TYPE]``). ``simulate severa|visma`` hands its other options to the simulator, so
those are checked against the simulator's own parser. ``severa-sync ... --stack X`` means any
command: the flag must exist somewhere. The commands that can run offline are also run, as
written, by tests/docs/test_laptop_example.py (the simulator example, config check, state).
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

from severa_sync_tools.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1", re.S | re.M)
#: An inline code span; it may wrap lines but not cross a blank line (that ends the paragraph).
INLINE = re.compile(r"(?<!`)`([^`\n]+(?:\n[^`\n]+)*)`(?!`)")
PROGRAM = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)*(?:\.venv/bin/)?severa-sync\s+(.*)$", re.S)
#: Where a shell command line ends and something else (a pipe, a background job) begins.
SHELL_OPERATORS = {"|", "||", "&", "&&", ";", ">", ">>", "<", "2>&1"}
PLACEHOLDER = re.compile(r"^(\[?[A-Z][A-Z0-9_-]*\]?|<[^<>]*>|\.\.\.)$")


@dataclass(frozen=True)
class Command:
    where: str  # "docs/deploy.md:156"
    text: str  # after "severa-sync "


def commands_in(text: str, name: str) -> Iterator[Command]:
    """Every severa-sync command line of a Markdown text, with the line it starts on."""

    def line_of(offset: int) -> int:
        return text.count("\n", 0, offset) + 1

    def found(candidate: str, offset: int) -> Iterator[Command]:
        match = PROGRAM.match(candidate.strip())
        if match:
            yield Command(f"{name}:{line_of(offset)}", " ".join(match.group(1).split()))

    blanked = text
    for fence in FENCE.finditer(text):
        body, start = fence.group(2), fence.start(2)
        # Backslash continuations make one command of several lines.
        offset = start
        for line in body.replace("\\\n", "  ").split("\n"):
            yield from found(line, offset)
            offset += len(line) + 1
        # Blank the block (keeping offsets) so its backticks are not read as inline spans.
        blanked = blanked[: fence.start()] + re.sub(r"[^\n]", " ", fence.group(0)) + blanked[fence.end() :]
    for span in INLINE.finditer(blanked):
        yield from found(span.group(1), span.start(1))


def _simulator_parser(system: str) -> argparse.ArgumentParser:
    """The simulator's own parser, caught where its ``main`` parses (nothing is served)."""

    class Caught(Exception):
        def __init__(self, parser: argparse.ArgumentParser) -> None:
            self.parser = parser

    def catch(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise Caught(self)

    if system == "severa":
        from severa_sync_tools.simulators.severa.cli import main
    else:
        from severa_sync_tools.simulators.visma.cli import main
    with mock.patch.object(argparse.ArgumentParser, "parse_args", catch), pytest.raises(Caught) as caught:
        main([])
    return caught.value.parser


def _all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def _option(parsers: list[argparse.ArgumentParser], flag: str) -> argparse.Action | None:
    for parser in parsers:
        for action in parser._actions:
            if flag in action.option_strings:
                return action
    return None


def problems_of(text: str, parser: argparse.ArgumentParser | None = None) -> list[str]:
    """What is wrong with one command line (the part after ``severa-sync``); [] if nothing."""
    root = parser or build_parser()
    try:
        tokens = shlex.split(re.sub(r"<[^<>]*>", "<placeholder>", text), comments=True)
    except ValueError as error:
        return [f"cannot be read as a shell line: {error}"]
    cut = next((i for i, token in enumerate(tokens) if token in SHELL_OPERATORS), len(tokens))
    tokens = tokens[:cut]
    path, parsers, position, problems = ["severa-sync"], [root], 0, []
    while tokens:
        token = tokens.pop(0)
        if token == "...":  # any command: its flags must exist on some command
            parsers, path = list(_all_parsers(root)), [*path, "..."]
            continue
        if token.startswith("-"):
            flag, equals, value = token.partition("=")
            action = _option(parsers, flag)
            if action is None:
                problems.append(f"{' '.join(path)} has no option {flag}")
                continue
            if action.nargs != 0 and not equals:
                value = tokens.pop(0) if tokens else ""
            if action.choices and value and not PLACEHOLDER.match(value) and value not in action.choices:
                problems.append(
                    f"{' '.join(path)} {flag} takes one of {sorted(action.choices)}, not {value!r}"
                )
            continue
        if path[-1] == "...":
            continue
        positionals = [a for a in parsers[0]._actions if not a.option_strings]
        if position >= len(positionals):
            problems.append(f"{' '.join(path)} takes no argument {token!r}")
            continue
        action = positionals[position]
        position += 1
        if isinstance(action, argparse._SubParsersAction):
            if token not in action.choices:
                problems.append(f"{' '.join(path)} has no command {token!r}")
                break
            parsers, path, position = [action.choices[token]], [*path, token], 0
        elif action.choices and not PLACEHOLDER.match(token) and token not in action.choices:
            problems.append(f"{' '.join(path)} {action.metavar or action.dest}: {token!r} is not one of it")
        elif path[-1] == "simulate":  # the rest of the line is the simulator's
            parsers, path, position = [_simulator_parser(token)], [*path, token], 0
    return problems


def _documented() -> list[Command]:
    return [
        command
        for document in DOCUMENTS
        for command in commands_in(document.read_text(encoding="utf-8"), str(document.relative_to(ROOT)))
    ]


def test_the_docs_are_read() -> None:
    # Guards the extractor: if it found nothing, the next test would pass on no evidence.
    found = _documented()
    assert len(found) >= 20, found
    assert any(c.text.startswith("state --stack") for c in found), "inline spans"
    assert any(c.text.startswith("simulate visma") for c in found), "VAR=value prefixes in code blocks"


def test_every_documented_command_and_flag_exists() -> None:
    parser = build_parser()
    wrong = [
        f"{command.where}: severa-sync {command.text}: {problem}"
        for command in _documented()
        for problem in problems_of(command.text, parser)
    ]
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("run accounts --config tenant.toml --bogus-flag", "severa-sync run has no option --bogus-flag"),
        ("statee list", "severa-sync has no command 'statee'"),
        ("state rewind invoices --from 2026-01-01", "severa-sync state rewind has no option --from"),
        ("run payroll --config tenant.toml", "'payroll' is not one of it"),
        ("run accounts --state s3", "--state takes one of"),
        ("config check FILE extra", "takes no argument 'extra'"),
        ("simulate visma --api-key KEY", "severa-sync simulate visma has no option --api-key"),
        ("... --stak X", "severa-sync ... has no option --stak"),
    ],
)
def test_the_checker_finds_what_does_not_exist(line: str, problem: str) -> None:
    assert any(problem in found for found in problems_of(line)), problems_of(line)


def test_the_checker_reads_docs_as_written() -> None:
    doc = (
        "Run `severa-sync state --stack <stack> rewind\ninvoices --to <B less a day>` first.\n\n"
        "```sh\nSEVERA_API_KEY=x severa-sync run accounts --config t.toml --bogus   # comment\n"
        "severa-sync simulate severa --port 8081 --no-seed &\n```\n"
    )
    found = list(commands_in(doc, "doc.md"))
    assert [(c.where, c.text) for c in found] == [
        ("doc.md:5", "run accounts --config t.toml --bogus # comment"),
        ("doc.md:6", "simulate severa --port 8081 --no-seed &"),
        ("doc.md:1", "state --stack <stack> rewind invoices --to <B less a day>"),
    ]
    assert [problems_of(c.text) for c in found] == [["severa-sync run has no option --bogus"], [], []]
