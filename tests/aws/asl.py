"""A small interpreter of the Amazon States Language (JSONPath mode), for running the synthesized
state machine in tests without AWS or Docker.

It supports what the AiV1 pipeline definition uses and refuses the rest with UnsupportedAsl, so a
definition that grows a new feature fails loudly here instead of being half-run:

- states: Pass, Task, Choice, Map (ItemProcessor or Iterator, run item after item), Succeed, Fail;
- InputPath, Parameters / ItemSelector, ResultSelector, ResultPath, OutputPath, with "key.$" values
  that are reference paths ($..., $$... for the context object) or intrinsic functions;
- intrinsics: States.ArrayRange, States.Array, States.Format, States.MathAdd, States.MathRandom,
  States.JsonMerge (shallow), States.JsonToString, States.StringToJson, States.ArrayLength;
- Choice rules: And, Or, Not, IsPresent, IsNull, BooleanEquals, StringEquals, Numeric{Equals,LessThan,
  LessThanEquals,GreaterThan,GreaterThanEquals} and their ...Path forms;
- Retry (ErrorEquals, MaxAttempts; never sleeps) and Catch (ErrorEquals, ResultPath, Next).

Tasks are executed by `invoke(resource, parameters)`, supplied by the caller; an exception it raises
becomes a States error (StatesError as is, anything else named by its type with a Lambda-style
Cause). TimeoutSeconds is accepted but not enforced, and Retry's timing fields are ignored: no test waits.
A state field or state type outside this list is refused.
"""

from __future__ import annotations

import copy
import json
import random
import re
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

Invoke = Callable[[str, Any], Any]

_SEGMENT = re.compile(r"\.([A-Za-z0-9_\-]+)|\['([^']*)'\]|\[(\d+)\]")
_INTRINSIC = re.compile(r"^(States\.[A-Za-z]+)\((.*)\)$", re.S)
_COMMON = {"Type", "Comment", "Next", "End", "InputPath", "OutputPath"}
_FIELDS = {
    "Pass": _COMMON | {"Parameters", "Result", "ResultPath"},
    "Task": _COMMON | {"Resource", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch", "TimeoutSeconds"},
    "Map": _COMMON | {"ItemsPath", "ItemSelector", "Parameters", "ItemProcessor", "Iterator", "MaxConcurrency",
                      "ResultSelector", "ResultPath", "Retry", "Catch"},
    "Choice": _COMMON | {"Choices", "Default"},
    "Succeed": _COMMON,
    "Fail": {"Type", "Comment", "Error", "Cause"},
}
_RETRY_FIELDS = {"ErrorEquals", "MaxAttempts", "IntervalSeconds", "BackoffRate", "MaxDelaySeconds", "JitterStrategy"}
_NUMERIC = {"Equals": lambda a, b: a == b, "LessThan": lambda a, b: a < b, "LessThanEquals": lambda a, b: a <= b,
            "GreaterThan": lambda a, b: a > b, "GreaterThanEquals": lambda a, b: a >= b}


class UnsupportedAsl(Exception):
    """The definition uses something this interpreter does not implement."""


class StatesError(Exception):
    """A States error with its name (e.g. "States.TaskFailed", "ValueError") and cause text."""

    def __init__(self, error: str, cause: str = ""):
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


# --- paths ---------------------------------------------------------------------------------------

def _segments(path: str) -> tuple[str, list[str | int]]:
    root = "$$" if path.startswith("$$") else "$"
    if not path.startswith("$"):
        raise UnsupportedAsl(f"not a reference path: {path!r}")
    rest, parts = path[len(root):], []
    while rest:
        match = _SEGMENT.match(rest)
        if match is None:
            raise UnsupportedAsl(f"unsupported JSONPath {path!r} (only reference paths)")
        name, quoted, index = match.groups()
        parts.append(int(index) if index is not None else name if name is not None else quoted)
        rest = rest[match.end():]
    return root, parts


def get_path(path: str, data: Any, context: dict | None = None) -> Any:
    """The value at a reference path; StatesError States.Runtime when it is absent."""
    root, parts = _segments(path)
    value = context if root == "$$" else data
    for part in parts:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            raise StatesError("States.Runtime", f"the path {path!r} does not exist in the input") from None
    return value


def has_path(path: str, data: Any) -> bool:
    try:
        get_path(path, data)
    except StatesError:
        return False
    return True


def set_path(path: str, data: Any, value: Any) -> Any:
    """`data` (copied) with `value` at the reference path, creating objects on the way (ResultPath)."""
    root, parts = _segments(path)
    if root != "$":
        raise UnsupportedAsl(f"ResultPath {path!r} must start with $")
    if not parts:
        return value
    result = copy.deepcopy(data) if isinstance(data, dict) else {}
    node = result
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
    return result


# --- payload templates and intrinsic functions ----------------------------------------------------

def _split_arguments(text: str) -> list[str]:
    args, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(text):
        if char == "'" and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            args.append(text[start:i].strip())
            start = i + 1
    tail = text[start:].strip()
    return args + [tail] if tail else args


def _argument(text: str, data: Any, context: dict) -> Any:
    if text.startswith("States."):
        return intrinsic(text, data, context)
    if text.startswith("$"):
        return get_path(text, data, context)
    if text.startswith("'"):
        return text[1:-1].replace("\\'", "'")
    return json.loads(text)


def intrinsic(expression: str, data: Any, context: dict) -> Any:
    """The value of an intrinsic function call like "States.ArrayRange(1, $.k, 1)"."""
    match = _INTRINSIC.match(expression.strip())
    if match is None:
        raise UnsupportedAsl(f"not an intrinsic function call: {expression!r}")
    name, args = match.group(1), [_argument(a, data, context) for a in _split_arguments(match.group(2))]
    if name == "States.ArrayRange":
        start, end, step = (int(a) for a in args)
        return list(range(start, end + (1 if step > 0 else -1), step))
    if name == "States.Array":
        return args
    if name == "States.Format":
        pieces = args[0].split("{}")
        if len(pieces) - 1 != len(args) - 1:
            raise StatesError("States.IntrinsicFailure", f"{expression}: {len(pieces) - 1} placeholders, "
                                                         f"{len(args) - 1} arguments")
        return "".join(p + (_format_value(a) if i < len(args) - 1 else "")
                       for i, (p, a) in enumerate(zip(pieces, [*args[1:], None])))
    if name == "States.MathAdd":
        return args[0] + args[1]
    if name == "States.MathRandom":
        return random.Random(*args[2:]).randrange(args[0], args[1])
    if name == "States.JsonMerge":
        if args[2] is not False:
            raise UnsupportedAsl("States.JsonMerge supports only a shallow merge (false)")
        return {**args[0], **args[1]}
    if name == "States.JsonToString":
        return json.dumps(args[0], separators=(",", ":"))
    if name == "States.StringToJson":
        return json.loads(args[0])
    if name == "States.ArrayLength":
        return len(args[0])
    raise UnsupportedAsl(f"intrinsic function {name} is not implemented")


def _format_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def fill_template(template: Any, data: Any, context: dict) -> Any:
    """A Parameters/ItemSelector/ResultSelector template evaluated against `data` and the context object."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = (intrinsic(value, data, context) if value.startswith("States.")
                                 else get_path(value, data, context))
            else:
                out[key] = fill_template(value, data, context)
        return out
    if isinstance(template, list):
        return [fill_template(item, data, context) for item in template]
    return template


# --- choice rules --------------------------------------------------------------------------------

def matches(rule: dict, data: Any, context: dict) -> bool:
    """Whether a Choice rule holds for `data`."""
    if "And" in rule:
        return all(matches(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(matches(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not matches(rule["Not"], data, context)
    variable = rule["Variable"]
    operator = next(k for k in rule if k not in ("Variable", "Next"))
    if operator == "IsPresent":
        return has_path(variable, data) == rule[operator]
    value = get_path(variable, data, context)
    expected = rule[operator]
    if operator.endswith("Path"):
        operator, expected = operator[:-4], get_path(expected, data, context)
    if operator == "IsNull":
        return (value is None) == expected
    if operator == "BooleanEquals":
        return isinstance(value, bool) and value == expected
    if operator == "StringEquals":
        return isinstance(value, str) and value == expected
    if operator.startswith("Numeric") and operator[7:] in _NUMERIC:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return number and _NUMERIC[operator[7:]](value, expected)
    raise UnsupportedAsl(f"Choice operator {operator} is not implemented")


# --- the machine ---------------------------------------------------------------------------------

@dataclass
class Event:
    """One step of the history: a state entered or exited, a retry, a caught error."""

    kind: str
    state: str
    detail: Any = None


@dataclass
class Execution:
    """One execution of a definition; `history` records what happened, in order."""

    definition: dict
    invoke: Invoke
    name: str = "test-execution"
    history: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.definition.get("QueryLanguage", "JSONPath") != "JSONPath":
            raise UnsupportedAsl("only the JSONPath query language is implemented")
        extra = set(self.definition) - {"StartAt", "States", "TimeoutSeconds", "Comment", "QueryLanguage", "Version"}
        if extra:
            raise UnsupportedAsl(f"top-level fields {sorted(extra)} not implemented")
        self.arn = f"arn:aws:states:eu-west-1:123456789012:execution:test:{self.name}"

    def run(self, execution_input: Any) -> Any:
        """The execution's output; StatesError when it fails."""
        context = {"Execution": {"Id": self.arn, "Name": self.name, "Input": execution_input,
                                 "StartTime": datetime.now(timezone.utc).isoformat()},
                   "StateMachine": {"Id": "arn:aws:states:eu-west-1:123456789012:stateMachine:test", "Name": "test"}}
        return self._machine(self.definition, execution_input, context)

    def _machine(self, machine: dict, data: Any, context: dict) -> Any:
        name = machine["StartAt"]
        while True:
            state = machine["States"][name]
            context = dict(context, State={"Name": name, "EnteredTime": datetime.now(timezone.utc).isoformat(),
                                           "RetryCount": 0})
            self.history.append(Event("entered", name, data))
            data, next_name = self._state(name, state, data, context)
            self.history.append(Event("exited", name, data))
            if next_name is None:
                return data
            name = next_name

    def _state(self, name: str, state: dict, raw: Any, context: dict) -> tuple[Any, str | None]:
        kind = state["Type"]
        _check_fields(name, state)
        if kind == "Fail":
            raise StatesError(state.get("Error", "States.Fail"), state.get("Cause", ""))
        data = get_path(state.get("InputPath", "$"), raw, context) if state.get("InputPath", "$") is not None else {}
        if kind == "Choice":
            chosen = next((rule["Next"] for rule in state["Choices"] if matches(rule, data, context)),
                          state.get("Default"))
            if chosen is None:
                raise StatesError("States.NoChoiceMatched", f"no choice of {name} matched")
            return self._output(state, data, context), chosen
        if kind == "Succeed":
            return self._output(state, data, context), None
        try:
            result = self._with_retries(name, state, data, context)
        except StatesError as error:
            catcher = next((c for c in state.get("Catch", []) if _catches(c["ErrorEquals"], error.error)), None)
            if catcher is None:
                raise
            self.history.append(Event("caught", name, {"Error": error.error, "Cause": error.cause}))
            failure = {"Error": error.error, "Cause": error.cause}
            return self._result_into(catcher.get("ResultPath", "$"), raw, failure), catcher["Next"]
        output = self._result_into(state.get("ResultPath", "$"), raw, result)
        return self._output(state, output, context), self._next(state)

    def _with_retries(self, name: str, state: dict, data: Any, context: dict) -> Any:
        retries: dict[int, int] = {}
        while True:
            try:
                return self._work(state, data, context)
            except StatesError as error:
                retriers = state.get("Retry", [])
                index = next((i for i, r in enumerate(retriers) if _catches(r["ErrorEquals"], error.error)), None)
                if index is None or retries.get(index, 0) >= state["Retry"][index].get("MaxAttempts", 3):
                    raise
                retries[index] = retries.get(index, 0) + 1
                self.history.append(Event("retry", name, {"Error": error.error, "attempt": retries[index]}))

    def _work(self, state: dict, data: Any, context: dict) -> Any:
        kind = state["Type"]
        if kind == "Pass":
            if "Result" in state:
                return state["Result"]
            return fill_template(state["Parameters"], data, context) if "Parameters" in state else data
        if kind == "Task":
            parameters = fill_template(state["Parameters"], data, context) if "Parameters" in state else data
            try:
                result = self.invoke(state["Resource"], parameters)
            except (StatesError, UnsupportedAsl):
                raise
            except Exception as error:
                cause = {"errorMessage": str(error), "errorType": type(error).__name__,
                         "stackTrace": traceback.format_exception(error)}
                raise StatesError(type(error).__name__, json.dumps(cause)) from error
        else:
            result = self._map(state, data, context)
        return fill_template(state["ResultSelector"], result, context) if "ResultSelector" in state else result

    def _map(self, state: dict, data: Any, context: dict) -> list:
        items = get_path(state.get("ItemsPath", "$"), data, context)
        if not isinstance(items, list):
            raise StatesError("States.Runtime", f"ItemsPath of a Map must give an array, got {type(items).__name__}")
        processor = state.get("ItemProcessor") or state.get("Iterator")
        selector = state.get("ItemSelector", state.get("Parameters"))
        outputs = []
        for index, item in enumerate(items):
            item_context = dict(context, Map={"Item": {"Index": index, "Value": item}})
            item_input = fill_template(selector, data, item_context) if selector is not None else item
            outputs.append(self._machine(processor, item_input, item_context))
        return outputs

    @staticmethod
    def _result_into(result_path: str | None, raw: Any, result: Any) -> Any:
        return raw if result_path is None else set_path(result_path, raw, result)

    @staticmethod
    def _output(state: dict, data: Any, context: dict) -> Any:
        path = state.get("OutputPath", "$")
        return {} if path is None else get_path(path, data, context)

    @staticmethod
    def _next(state: dict) -> str | None:
        return None if state.get("End") else state["Next"]


def _check_fields(name: str, state: dict) -> None:
    """UnsupportedAsl for a state type or field this interpreter does not implement."""
    if state["Type"] not in _FIELDS:
        raise UnsupportedAsl(f"state type {state['Type']} ({name}) is not implemented")
    extra = set(state) - _FIELDS[state["Type"]]
    extra |= {f"Retry.{key}" for retrier in state.get("Retry", []) for key in set(retrier) - _RETRY_FIELDS}
    processor = state.get("ItemProcessor") or {}
    if processor.get("ProcessorConfig", {"Mode": "INLINE"}).get("Mode", "INLINE") != "INLINE":
        extra.add("ItemProcessor.ProcessorConfig (only INLINE)")
    if extra:
        raise UnsupportedAsl(f"{name}: {sorted(extra)} not implemented")


def _catches(names: list[str], error: str) -> bool:
    """Whether ErrorEquals `names` matches `error`: States.Runtime never; States.ALL anything else;
    States.TaskFailed anything but States.Timeout."""
    if error == "States.Runtime":
        return False
    return error in names or "States.ALL" in names or ("States.TaskFailed" in names and error != "States.Timeout")
