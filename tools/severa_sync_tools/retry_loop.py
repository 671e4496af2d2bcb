"""The retry state machine, run locally: an interpreter for the part of Amazon States Language that
``infra/statemachines/retry.asl.json`` uses (Pass, Wait, Choice, Task, Succeed, Fail; JSONPath by
dots; the intrinsics States.Format, StringToJson, JsonToString, MathAdd, Base64Decode).

The local run (``severa-sync demo``) drives a run that met a maintenance break through THE SAME
definition Step Functions runs, not a Python copy of it: the template's ``DefinitionSubstitutions``
are applied the same way (the demo substitutes a 1-second wait for the 600-second one), and the
Task resources go to the local handler (``lambda:invoke``) and to moto (``sns:publish``,
``dynamodb:putItem``). Anything the interpreter does not know fails loudly instead of guessing.
"""

from __future__ import annotations

import base64
import copy
import json
import operator
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from severa_sync.errors import CallInfo, ConfigError, SyncError
from severa_sync.timeutil import utcnow

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
SNS_PUBLISH = "arn:aws:states:::sns:publish"
DYNAMODB_PUT_ITEM = "arn:aws:states:::dynamodb:putItem"
#: Step Functions' own cap is 25,000 history events; a local loop that long is a bug.
MAX_TRANSITIONS = 10_000

Task = Callable[[dict[str, Any]], Any]


class StateMachineError(ConfigError):
    """The definition uses something this interpreter does not implement, or is inconsistent."""

    code = "state_machine_unsupported"


class TaskFailed(SyncError):
    """A Task state's failure, named as Step Functions names it (``error``) for Retry and Catch."""

    code = "state_machine_task_failed"

    def __init__(self, error: str, cause: str, *, call: CallInfo | None = None):
        super().__init__(f"{error}: {cause}", call=call, detail={"error": error})
        self.error = error
        self.cause = cause


@dataclass
class Execution:
    status: str  # "SUCCEEDED" | "FAILED"
    output: Any = None
    error: str | None = None
    cause: str | None = None
    #: Names of the states entered, in order (tests and the demo's narration read it).
    visited: list[str] = field(default_factory=list)


def load_definition(path: str | Path, substitutions: Mapping[str, str]) -> dict[str, Any]:
    """The definition with ``${Name}`` replaced as CloudFormation's DefinitionSubstitutions do."""
    text = Path(path).read_text(encoding="utf-8")
    missing = sorted(set(re.findall(r"\$\{(\w+)\}", text)) - set(substitutions))
    if missing:
        raise StateMachineError(f"state machine {path} needs substitutions for {', '.join(missing)}")
    text = re.sub(r"\$\{(\w+)\}", lambda m: substitutions[m.group(1)], text)
    return dict(json.loads(text))


# --- paths and intrinsic functions --------------------------------------------------------------
def read_path(path: str, data: Any, context: Mapping[str, Any]) -> Any:
    """``$``, ``$.a.b`` (the state's input) or ``$$.a.b`` (the context object)."""
    root, rest = (context, path[2:]) if path.startswith("$$") else (data, path[1:])
    if not path.startswith("$") or not re.fullmatch(r"(\.[A-Za-z0-9_-]+)*", rest):
        raise StateMachineError(f"unsupported path {path!r} (only $.a.b and $$.a.b)")
    value = root
    for part in filter(None, rest.split(".")):
        if not isinstance(value, Mapping) or part not in value:
            raise TaskFailed("States.Runtime", f"the path {path!r} does not exist in the state's input")
        value = value[part]
    return value


@dataclass(frozen=True)
class _Template:
    """A string literal split at its unescaped ``{}`` (only States.Format fills them)."""

    parts: tuple[str, ...]

    def text(self) -> str:
        return "{}".join(self.parts)


class _Intrinsic:
    """Recursive-descent evaluation of ``States.Fn(arg, ...)`` with literals, paths and nesting."""

    def __init__(self, expression: str, data: Any, context: Mapping[str, Any]):
        self.text, self.pos, self.data, self.context = expression, 0, data, context

    def evaluate(self) -> Any:
        value = self._value()
        self._skip()
        if self.pos != len(self.text):
            raise StateMachineError(f"trailing text in intrinsic {self.text!r}")
        return value.text() if isinstance(value, _Template) else value

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _value(self) -> Any:
        self._skip()
        rest = self.text[self.pos :]
        if rest.startswith("'"):
            return self._string()
        if rest.startswith("$"):
            end = self.pos + len(re.match(r"[^,)\s]+", rest).group(0))  # type: ignore[union-attr]
            path, self.pos = self.text[self.pos : end], end
            return read_path(path, self.data, self.context)
        if number := re.match(r"-?\d+(\.\d+)?", rest):
            self.pos += len(number.group(0))
            return json.loads(number.group(0))
        if call := re.match(r"States\.(\w+)\(", rest):
            self.pos += len(call.group(0))
            args: list[Any] = []
            while True:
                self._skip()
                if self.text[self.pos : self.pos + 1] == ")":
                    self.pos += 1
                    return self._call(call.group(1), args)
                args.append(self._value())
                self._skip()
                if self.text[self.pos : self.pos + 1] == ",":
                    self.pos += 1
        raise StateMachineError(f"cannot read intrinsic {self.text!r} at {rest[:20]!r}")

    def _string(self) -> _Template:
        parts, current, i = [], [], self.pos + 1
        while i < len(self.text) and self.text[i] != "'":
            if self.text[i] == "\\" and i + 1 < len(self.text):
                current.append(self.text[i + 1])  # \' \{ \} \\ stand for themselves
                i += 2
            elif self.text.startswith("{}", i):
                parts.append("".join(current))
                current, i = [], i + 2
            else:
                current.append(self.text[i])
                i += 1
        if i >= len(self.text):
            raise StateMachineError(f"unterminated string in intrinsic {self.text!r}")
        self.pos = i + 1
        return _Template((*parts, "".join(current)))

    def _call(self, name: str, args: list[Any]) -> Any:
        plain = [a.text() if isinstance(a, _Template) else a for a in args]
        if name == "Format" and args and isinstance(args[0], _Template):
            parts, values = args[0].parts, plain[1:]
            if len(values) != len(parts) - 1:
                raise TaskFailed("States.IntrinsicFailure", f"States.Format got {len(values)} values")
            shown = [v if isinstance(v, str) else json.dumps(v) for v in values]
            return "".join(p + s for p, s in zip(parts, [*shown, ""], strict=True))
        if name == "StringToJson" and len(plain) == 1:
            return json.loads(plain[0])
        if name == "JsonToString" and len(plain) == 1:
            return json.dumps(plain[0], separators=(",", ":"))
        if name == "MathAdd" and len(plain) == 2:
            return plain[0] + plain[1]
        if name == "Base64Decode" and len(plain) == 1:
            return base64.b64decode(plain[0], validate=True).decode("utf-8")
        raise StateMachineError(f"unsupported intrinsic States.{name} with {len(args)} arguments")


def resolve(template: Any, data: Any, context: Mapping[str, Any]) -> Any:
    """Parameters / ResultSelector: keys ending in ``.$`` take a path or an intrinsic."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = (
                    _Intrinsic(value, data, context).evaluate()
                    if value.startswith("States.")
                    else read_path(value, data, context)
                )
            else:
                out[key] = resolve(value, data, context)
        return out
    if isinstance(template, list):
        return [resolve(item, data, context) for item in template]
    return template


def with_result(data: Any, result: Any, result_path: str | None) -> Any:
    if result_path is None:
        return data
    if result_path == "$":
        return result
    if not result_path.startswith("$."):
        raise StateMachineError(f"unsupported ResultPath {result_path!r}")
    out = copy.deepcopy(data) if isinstance(data, dict) else {}
    *parents, last = result_path[2:].split(".")
    node = out
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = result
    return out


# --- choice rules -------------------------------------------------------------------------------
_COMPARE = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "GreaterThan": operator.gt,
    "LessThanEquals": operator.le,
    "GreaterThanEquals": operator.ge,
}
_KINDS: dict[str, tuple[type, ...]] = {"String": (str,), "Numeric": (int, float), "Boolean": (bool,)}
_RULE = re.compile(
    r"^(String|Numeric|Boolean)(Equals|LessThan|GreaterThan|LessThanEquals|GreaterThanEquals)(Path)?$"
)


def matches(rule: Mapping[str, Any], data: Any, context: Mapping[str, Any]) -> bool:
    if "And" in rule:
        return all(matches(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(matches(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not matches(rule["Not"], data, context)
    tests = [key for key in rule if key not in ("Variable", "Next")]
    parsed = _RULE.match(tests[0]) if len(tests) == 1 else None
    if parsed is None:
        raise StateMachineError(f"unsupported choice rule {sorted(rule)}")
    kind, comparison, by_path = parsed.groups()
    value = read_path(rule["Variable"], data, context)
    expected = rule[tests[0]]
    if by_path:
        expected = read_path(expected, data, context)
    types = _KINDS[kind]
    is_kind = isinstance(value, types) and (kind == "Boolean" or not isinstance(value, bool))
    return is_kind and bool(_COMPARE[comparison](value, expected))


# --- the interpreter ----------------------------------------------------------------------------
class RetryMachine:
    """``RetryMachine(definition, tasks={resource: callable}).run(input)``; ``sleep`` does the Waits."""

    def __init__(
        self,
        definition: Mapping[str, Any],
        *,
        tasks: Mapping[str, Task],
        sleep: Callable[[float], None] = time.sleep,
        execution_arn: str = "arn:aws:states:local:000000000000:execution:retry:local",
        on_state: Callable[[str, Mapping[str, Any], Any], None] | None = None,
    ):
        self.definition, self.tasks, self.sleep, self.execution_arn = definition, tasks, sleep, execution_arn
        self.on_state = on_state
        self.states: Mapping[str, Any] = definition["States"]

    def run(self, execution_input: dict[str, Any]) -> Execution:
        context: dict[str, Any] = {
            "Execution": {
                "Id": self.execution_arn,
                "Name": self.execution_arn.rsplit(":", 1)[-1],
                "StartTime": _timestamp(),
                "Input": execution_input,
            },
        }
        execution = Execution("RUNNING")
        data: Any = execution_input
        name = self.definition["StartAt"]
        for _ in range(MAX_TRANSITIONS):
            state = self.states[name]
            execution.visited.append(name)
            context["State"] = {"Name": name, "EnteredTime": _timestamp()}
            if self.on_state:
                self.on_state(name, state, data)
            kind = state["Type"]
            try:
                if kind == "Succeed":
                    execution.status, execution.output = "SUCCEEDED", data
                    return execution
                if kind == "Fail":
                    execution.status, execution.error, execution.cause = (
                        "FAILED",
                        state.get("Error"),
                        state.get("Cause"),
                    )
                    return execution
                if kind == "Choice":
                    name = (
                        next((r["Next"] for r in state["Choices"] if matches(r, data, context)), None)
                        or state["Default"]
                    )
                    continue
                if kind == "Pass":
                    result = (
                        resolve(state["Parameters"], data, context)
                        if "Parameters" in state
                        else state.get("Result", data)
                    )
                    data = with_result(data, result, state.get("ResultPath", "$"))
                elif kind == "Wait":
                    seconds = (
                        state["Seconds"]
                        if "Seconds" in state
                        else read_path(state["SecondsPath"], data, context)
                    )
                    self.sleep(float(seconds))
                elif kind == "Task":
                    data, caught = self._task(name, state, data, context)
                    if caught:
                        name = caught
                        continue
                else:
                    raise StateMachineError(f"state {name}: type {kind} is not supported locally")
            except TaskFailed as failure:
                execution.status, execution.error, execution.cause = "FAILED", failure.error, failure.cause
                return execution
            if state.get("End"):
                execution.status, execution.output = "SUCCEEDED", data
                return execution
            name = state["Next"]
        raise StateMachineError(f"the local execution passed {MAX_TRANSITIONS} transitions without ending")

    def _task(
        self, name: str, state: Mapping[str, Any], data: Any, context: Mapping[str, Any]
    ) -> tuple[Any, str | None]:
        """Run one Task with its Retry and Catch; returns (new data, the catcher's Next or None)."""
        resource = state["Resource"]
        if resource not in self.tasks:
            raise StateMachineError(f"state {name}: no local implementation of {resource}")
        params = resolve(state.get("Parameters", data), data, context)
        counts: dict[int, int] = {}
        while True:
            try:
                result = self.tasks[resource](params)
                break
            except Exception as exc:  # a Task fails with any error; Retry/Catch decide by its name
                failure = (
                    exc
                    if isinstance(exc, TaskFailed)
                    else TaskFailed(
                        type(exc).__name__,
                        str(exc),
                        call=CallInfo("stepfunctions", resource, {"state": name}),
                    )
                )
            retrier = next(
                (i for i, r in enumerate(state.get("Retry", [])) if _names(r, failure.error)), None
            )
            if retrier is not None:
                rule = state["Retry"][retrier]
                done = counts.get(retrier, 0)
                if done < rule.get("MaxAttempts", 3):
                    counts[retrier] = done + 1
                    delay = rule.get("IntervalSeconds", 1) * rule.get("BackoffRate", 2.0) ** done
                    self.sleep(min(delay, rule.get("MaxDelaySeconds", delay)))
                    continue
            catcher = next((c for c in state.get("Catch", []) if _names(c, failure.error)), None)
            if catcher is None:
                raise failure
            error_output = {"Error": failure.error, "Cause": failure.cause}
            return with_result(data, error_output, catcher.get("ResultPath", "$")), catcher["Next"]
        if "ResultSelector" in state:
            result = resolve(state["ResultSelector"], result, context)
        return with_result(data, result, state.get("ResultPath", "$")), None


def _timestamp() -> str:
    """Step Functions' context times: UTC, milliseconds, ``Z``."""
    return utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _names(rule: Mapping[str, Any], error: str) -> bool:
    names = rule["ErrorEquals"]
    return (
        error in names
        or "States.ALL" in names
        or ("States.TaskFailed" in names and error != "States.Timeout")
    )


def aws_tasks(
    invoke: Callable[[str, dict[str, Any]], dict[str, Any]], sns: Any, dynamodb: Any
) -> dict[str, Task]:
    """The retry machine's resources: the local handler for lambda:invoke, boto3 clients for the rest."""
    return {
        LAMBDA_INVOKE: lambda p: {
            "StatusCode": 200,
            "Payload": invoke(p["FunctionName"], p.get("Payload") or {}),
        },
        SNS_PUBLISH: lambda p: sns.publish(**p),
        DYNAMODB_PUT_ITEM: lambda p: dynamodb.put_item(**p),
    }
