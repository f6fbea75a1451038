"""A small interpreter of the Amazon States Language (JSONPath mode), for running the synthesized
state machine in tests without AWS or Docker.

It supports what the AiV1 pipeline definition uses and refuses the rest with UnsupportedAsl, so a
definition that grows a new feature fails loudly here instead of being half-run:

- states: Pass, Task, Choice, Map (ItemProcessor or Iterator, INLINE), Succeed, Fail;
- InputPath, Parameters / ItemSelector, ResultSelector, ResultPath, OutputPath, with "key.$" values
  that are reference paths ($..., $$... for the context object) or intrinsic functions;
- intrinsics: States.ArrayRange, States.Array, States.Format, States.MathAdd, States.MathRandom,
  States.JsonMerge (shallow), States.JsonToString, States.StringToJson, States.ArrayLength;
- Choice rules: And, Or, Not, IsPresent, IsNull, IsNumeric, IsString, IsBoolean, BooleanEquals, StringEquals,
  Numeric{Equals,LessThan,LessThanEquals,GreaterThan,GreaterThanEquals} and their ...Path forms;
- Retry (ErrorEquals, MaxAttempts; never sleeps) and Catch (ErrorEquals, ResultPath, Next).

As Step Functions does, it runs a Map's items concurrently, at most MaxConcurrency at once (0 or
absent: all), and a Map whose item fails fails at once (items not started never start); a Task's
TimeoutSeconds is a States.Timeout when `invoke` takes longer (the call itself is left running,
as a Lambda would be); the execution's TimeoutSeconds ends it with States.Timeout, which no Catch
sees; and a state's input after Parameters, a task's result or a state's output over 256 KiB
(UTF-8 JSON) is States.DataLimitExceeded, which States.ALL does not catch. Retry's timing fields
are ignored: no test waits.

Tasks are executed by `invoke(resource, parameters)`, supplied by the caller; an exception it raises
becomes a States error (StatesError as is, anything else named by its type with a Lambda-style
Cause). `history` records what happened; history_event_count() counts it as Step Functions' own
history would (for its 25,000-event quota). A state field or state type outside this list is refused.
"""

from __future__ import annotations

import copy
import json
import random
import re
import threading
import time
import traceback
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
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
    "Map": _COMMON
    | {
        "ItemsPath",
        "ItemSelector",
        "Parameters",
        "ItemProcessor",
        "Iterator",
        "MaxConcurrency",
        "ResultSelector",
        "ResultPath",
        "Retry",
        "Catch",
    },
    "Choice": _COMMON | {"Choices", "Default"},
    "Succeed": _COMMON,
    "Fail": {"Type", "Comment", "Error", "Cause"},
}
_RETRY_FIELDS = {"ErrorEquals", "MaxAttempts", "IntervalSeconds", "BackoffRate", "MaxDelaySeconds", "JitterStrategy"}
PAYLOAD_LIMIT_BYTES = 256 * 1024  # Step Functions' quota on a state's input and output, and on a task's result
_TYPES = {
    "IsNumeric": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "IsString": lambda v: isinstance(v, str),
    "IsBoolean": lambda v: isinstance(v, bool),
}
_UNCATCHABLE_BY_ALL = ("States.Runtime", "States.DataLimitExceeded")
_NUMERIC = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanEquals": lambda a, b: a >= b,
}


class UnsupportedAsl(Exception):
    """The definition uses something this interpreter does not implement."""


class StatesError(Exception):
    """A States error with its name (e.g. "States.TaskFailed", "ValueError") and cause text."""

    def __init__(self, error: str, cause: str = ""):
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


class ExecutionTimedOut(StatesError):
    """The execution ran past its TimeoutSeconds: it ends, whatever Catch a state has."""


# --- paths ---------------------------------------------------------------------------------------


def _segments(path: str) -> tuple[str, list[str | int]]:
    root = "$$" if path.startswith("$$") else "$"
    if not path.startswith("$"):
        raise UnsupportedAsl(f"not a reference path: {path!r}")
    rest, parts = path[len(root) :], []
    while rest:
        match = _SEGMENT.match(rest)
        if match is None:
            raise UnsupportedAsl(f"unsupported JSONPath {path!r} (only reference paths)")
        name, quoted, index = match.groups()
        parts.append(int(index) if index is not None else name if name is not None else quoted)
        rest = rest[match.end() :]
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
            raise StatesError(
                "States.IntrinsicFailure", f"{expression}: {len(pieces) - 1} placeholders, {len(args) - 1} arguments"
            )
        return "".join(
            p + (_format_value(a) if i < len(args) - 1 else "")
            for i, (p, a) in enumerate(zip(pieces, [*args[1:], None]))
        )
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
                out[key[:-2]] = (
                    intrinsic(value, data, context) if value.startswith("States.") else get_path(value, data, context)
                )
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
    if operator in _TYPES:
        return has_path(variable, data) and _TYPES[operator](get_path(variable, data, context)) == rule[operator]
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
    """One step of the history: a state entered or exited, a task attempt, a Map or one of its iterations,
    a retry, a caught error; `item` is the path of Map items it happened in, e.g. (("Candidates", 0),)."""

    kind: str
    state: str
    detail: Any = None
    item: tuple = ()


# Step Functions' own history events per event here: a state entered/exited is one each; a task attempt is
# TaskScheduled, TaskStarted and TaskSucceeded/TaskFailed (+ TaskSubmitted for a .sync job); a Map adds
# MapStateStarted and MapStateSucceeded/Failed, each of its iterations MapIterationStarted and ...Succeeded/Failed.
_HISTORY_EVENTS = {"entered": 1, "exited": 1, "task": 3, "map": 2, "iteration": 2}


def history_event_count(history: list[Event], item: tuple = ()) -> int:
    """How many events Step Functions' history holds for `history` (all of it, or within one Map item)."""
    count = 0
    for event in history:
        if event.item[: len(item)] != item:
            continue
        count += _HISTORY_EVENTS.get(event.kind, 0)
        if event.kind == "task" and str(event.detail).endswith(".sync"):
            count += 1
    return count + (2 if not item else 0)  # ExecutionStarted and ExecutionSucceeded/Failed


def payload_size(value: Any) -> int:
    """The size Step Functions counts for a payload: its JSON text in UTF-8."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


@dataclass
class Execution:
    """One execution of a definition; `history` records what happened, in order (items' events interleave)."""

    definition: dict
    invoke: Invoke
    name: str = "test-execution"
    history: list[Event] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if self.definition.get("QueryLanguage", "JSONPath") != "JSONPath":
            raise UnsupportedAsl("only the JSONPath query language is implemented")
        extra = set(self.definition) - {"StartAt", "States", "TimeoutSeconds", "Comment", "QueryLanguage", "Version"}
        if extra:
            raise UnsupportedAsl(f"top-level fields {sorted(extra)} not implemented")
        self.machine_arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:test"
        self.arn = f"arn:aws:states:eu-west-1:123456789012:execution:test:{self.name}"
        self._lock = threading.Lock()
        self._deadline: float | None = None

    def run(self, execution_input: Any) -> Any:
        """The execution's output; StatesError when it fails (ExecutionTimedOut past its TimeoutSeconds)."""
        timeout = self.definition.get("TimeoutSeconds")
        self._deadline = None if timeout is None else self.clock() + timeout
        context = {
            "Execution": {
                "Id": self.arn,
                "Name": self.name,
                "Input": execution_input,
                "StartTime": datetime.now(timezone.utc).isoformat(),
            },
            "StateMachine": {"Id": self.machine_arn, "Name": "test"},
        }
        _check_size("the execution's input", execution_input)
        return self._machine(self.definition, execution_input, context)

    def _record(self, kind: str, state: str, context: dict, detail: Any = None) -> None:
        with self._lock:
            self.history.append(Event(kind, state, detail, context.get("_item", ())))

    def _machine(self, machine: dict, data: Any, context: dict) -> Any:
        name = machine["StartAt"]
        while True:
            if self._deadline is not None and self.clock() > self._deadline:
                raise ExecutionTimedOut(
                    "States.Timeout",
                    f"the execution ran past its TimeoutSeconds ({self.definition['TimeoutSeconds']}) before {name}",
                )
            state = machine["States"][name]
            context = dict(
                context, State={"Name": name, "EnteredTime": datetime.now(timezone.utc).isoformat(), "RetryCount": 0}
            )
            self._record("entered", name, context, data)
            data, next_name = self._state(name, state, data, context)
            _check_size(f"the output of {name}", data)
            self._record("exited", name, context, data)
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
            chosen = next(
                (rule["Next"] for rule in state["Choices"] if matches(rule, data, context)), state.get("Default")
            )
            if chosen is None:
                raise StatesError("States.NoChoiceMatched", f"no choice of {name} matched")
            return self._output(state, data, context), chosen
        if kind == "Succeed":
            return self._output(state, data, context), None
        try:
            result = self._with_retries(name, state, data, context)
        except ExecutionTimedOut:
            raise
        except StatesError as error:
            catcher = next((c for c in state.get("Catch", []) if _catches(c["ErrorEquals"], error.error)), None)
            if catcher is None:
                raise
            self._record("caught", name, context, {"Error": error.error, "Cause": error.cause})
            failure = {"Error": error.error, "Cause": error.cause}
            return self._result_into(catcher.get("ResultPath", "$"), raw, failure), catcher["Next"]
        output = self._result_into(state.get("ResultPath", "$"), raw, result)
        return self._output(state, output, context), self._next(state)

    def _with_retries(self, name: str, state: dict, data: Any, context: dict) -> Any:
        retries: dict[int, int] = {}
        while True:
            try:
                return self._work(name, state, data, context)
            except ExecutionTimedOut:
                raise
            except StatesError as error:
                retriers = state.get("Retry", [])
                index = next((i for i, r in enumerate(retriers) if _catches(r["ErrorEquals"], error.error)), None)
                if index is None or retries.get(index, 0) >= state["Retry"][index].get("MaxAttempts", 3):
                    raise
                retries[index] = retries.get(index, 0) + 1
                self._record("retry", name, context, {"Error": error.error, "attempt": retries[index]})

    def _work(self, name: str, state: dict, data: Any, context: dict) -> Any:
        kind = state["Type"]
        if kind == "Pass":
            if "Result" in state:
                return state["Result"]
            return fill_template(state["Parameters"], data, context) if "Parameters" in state else data
        if kind == "Task":
            parameters = fill_template(state["Parameters"], data, context) if "Parameters" in state else data
            _check_size(f"the input of {name} after Parameters", parameters)
            self._record("task", name, context, state["Resource"])
            result = self._call(name, state, parameters)
            _check_size(f"the result of {name}", result)
        else:
            result = self._map(name, state, data, context)
        return fill_template(state["ResultSelector"], result, context) if "ResultSelector" in state else result

    def _call(self, name: str, state: dict, parameters: Any) -> Any:
        """`invoke` on the task's resource; States.Timeout past its TimeoutSeconds (the call is left running)."""
        timeout = state.get("TimeoutSeconds")
        if timeout is None:
            return self._invoke(state["Resource"], parameters)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"task-{name}")
        try:
            return pool.submit(self._invoke, state["Resource"], parameters).result(timeout=timeout)
        except FutureTimeout:
            raise StatesError("States.Timeout", f"{name} ran past its TimeoutSeconds ({timeout})") from None
        finally:
            pool.shutdown(wait=False)

    def _invoke(self, resource: str, parameters: Any) -> Any:
        try:
            return self.invoke(resource, parameters)
        except (StatesError, UnsupportedAsl):
            raise
        except Exception as error:
            cause = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_exception(error),
            }
            raise StatesError(type(error).__name__, json.dumps(cause)) from error

    def _map(self, name: str, state: dict, data: Any, context: dict) -> list:
        """Each item through the processor, at most MaxConcurrency at once; the first failure fails the Map."""
        items = get_path(state.get("ItemsPath", "$"), data, context)
        if not isinstance(items, list):
            raise StatesError("States.Runtime", f"ItemsPath of a Map must give an array, got {type(items).__name__}")
        processor = state.get("ItemProcessor") or state.get("Iterator")
        selector = state.get("ItemSelector", state.get("Parameters"))
        self._record("map", name, context, len(items))
        if not items:
            return []
        stop = threading.Event()

        def run_item(index: int, item: Any) -> Any:
            if stop.is_set():
                raise _NotStarted()
            item_context = dict(
                context, Map={"Item": {"Index": index, "Value": item}}, _item=(*context.get("_item", ()), (name, index))
            )
            self._record("iteration", name, item_context, index)
            item_input = fill_template(selector, data, item_context) if selector is not None else item
            return self._machine(processor, item_input, item_context)

        width = state.get("MaxConcurrency") or len(items)
        with ThreadPoolExecutor(max_workers=min(width, len(items)), thread_name_prefix=f"map-{name}") as pool:
            futures: list[Future] = [pool.submit(run_item, index, item) for index, item in enumerate(items)]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [
                f
                for f in futures
                if f in done and f.exception() is not None and not isinstance(f.exception(), _NotStarted)
            ]
            if failed:
                stop.set()
                for future in futures:
                    future.cancel()
                raise failed[0].exception()
        return [future.result() for future in futures]

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


class _NotStarted(Exception):
    """A Map item that was not started because a sibling had already failed."""


def _check_size(what: str, value: Any) -> None:
    size = payload_size(value)
    if size > PAYLOAD_LIMIT_BYTES:
        raise StatesError("States.DataLimitExceeded", f"{what} is {size} bytes, over the {PAYLOAD_LIMIT_BYTES}")


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
    """Whether ErrorEquals `names` matches `error`: States.Runtime never; States.DataLimitExceeded only by its
    name; States.ALL anything else; States.TaskFailed anything but States.Timeout."""
    if error == "States.Runtime":
        return False
    if error in names:
        return True
    if error in _UNCATCHABLE_BY_ALL:
        return False
    return "States.ALL" in names or ("States.TaskFailed" in names and error != "States.Timeout")
