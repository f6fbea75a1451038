"""The test ASL interpreter (tests/aws/asl.py): each feature the pipeline's definition uses, and refusals."""

from __future__ import annotations

import json
import threading

import pytest
from asl import (
    PAYLOAD_LIMIT_BYTES,
    Execution,
    ExecutionTimedOut,
    StatesError,
    UnsupportedAsl,
    get_path,
    history_event_count,
    intrinsic,
    set_path,
)


def machine(*states: tuple[str, dict], **top) -> dict:
    """A definition whose states run in the order given (each without Next/End gets the following one)."""
    named = dict(states)
    names = list(named)
    for i, name in enumerate(names):
        state = named[name]
        if state["Type"] not in ("Choice", "Succeed", "Fail") and "Next" not in state and "End" not in state:
            state.update({"Next": names[i + 1]} if i + 1 < len(names) else {"End": True})
    return {"StartAt": names[0], "States": named, **top}


def never(resource, parameters):
    raise AssertionError("no task expected")


def test_paths_read_and_write_reference_paths():
    data = {"a": {"b c": [10, {"d": 4}]}}
    assert get_path("$.a['b c'][1].d", data) == 4
    assert get_path("$$.Map.Item.Index", data, {"Map": {"Item": {"Index": 3}}}) == 3
    with pytest.raises(StatesError, match="States.Runtime"):
        get_path("$.a.missing", data)
    assert set_path("$.x.y", data, 1) == {**data, "x": {"y": 1}} and "x" not in data  # a copy
    assert set_path("$", data, 7) == 7
    with pytest.raises(UnsupportedAsl, match="only reference paths"):
        get_path("$.a[?(@.d)]", data)


def test_intrinsic_functions():
    data, context = {"k": 3, "name": "run-1", "a": {"x": 1, "y": 2}, "b": {"y": 5}}, {}
    assert intrinsic("States.ArrayRange(1, $.k, 1)", data, context) == [1, 2, 3]
    assert intrinsic("States.Format('results/{}.json', $.name)", data, context) == "results/run-1.json"
    assert intrinsic("States.MathAdd($.k, 1)", data, context) == 4
    assert intrinsic("States.JsonMerge($.a, $.b, false)", data, context) == {"x": 1, "y": 5}
    assert intrinsic("States.Array('python', 'x', States.MathAdd(1, 1))", data, context) == ["python", "x", 2]
    assert 1 <= intrinsic("States.MathRandom(1, 1000)", data, context) < 1000
    with pytest.raises(UnsupportedAsl, match="States.Hash"):
        intrinsic("States.Hash($.name, 'SHA-1')", data, context)


def test_pass_parameters_result_path_output_path_and_context():
    definition = machine(
        (
            "Start",
            {
                "Type": "Pass",
                "Parameters": {
                    "items.$": "States.ArrayRange(1, $.k, 1)",
                    "run.$": "$$.Execution.Name",
                    "fixed": {"a": 1},
                },
                "ResultPath": "$.made",
            },
        ),
        ("Keep", {"Type": "Pass", "OutputPath": "$.made"}),
    )
    assert Execution(definition, never, name="exec-1").run({"k": 2}) == {
        "items": [1, 2],
        "run": "exec-1",
        "fixed": {"a": 1},
    }


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"ok": True, "n": 1, "id": "x"}, "Yes"),
        ({"ok": False, "n": 1, "id": "x"}, "Low"),
        ({"ok": False, "n": 5, "id": None}, "NoId"),
        ({"ok": False, "n": 5, "id": "x"}, "Other"),
    ],
)
def test_choice_rules(data, expected):
    definition = machine(
        (
            "Pick",
            {
                "Type": "Choice",
                "Default": "Other",
                "Choices": [
                    {"Variable": "$.ok", "BooleanEquals": True, "Next": "Yes"},
                    {
                        "And": [
                            {"Variable": "$.n", "NumericLessThan": 3},
                            {"Not": {"Variable": "$.id", "IsNull": True}},
                        ],
                        "Next": "Low",
                    },
                    {"Variable": "$.id", "IsNull": True, "Next": "NoId"},
                ],
            },
        ),
        *((name, {"Type": "Pass", "Result": name, "End": True}) for name in ("Yes", "Low", "NoId", "Other")),
    )
    assert Execution(definition, never).run(data) == expected


def test_a_map_runs_its_processor_per_item_with_the_item_context():
    processor = machine(
        (
            "Double",
            {"Type": "Pass", "Parameters": {"index.$": "$.index", "twice.$": "States.MathAdd($.value, $.value)"}},
        )
    )
    definition = machine(
        (
            "Each",
            {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 2,
                "ItemSelector": {"index.$": "$$.Map.Item.Index", "value.$": "$$.Map.Item.Value"},
                "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, **processor},
                "ResultPath": "$.out",
            },
        )
    )
    assert Execution(definition, never).run({"items": [5, 7]})["out"] == [
        {"index": 0, "twice": 10},
        {"index": 1, "twice": 14},
    ]


def each(items_state: dict, task: dict | None = None, concurrency: int = 0) -> dict:
    """A definition with one Map over $.items whose processor is one Task on "fn" with the item as input."""
    processor = machine(("Work", {"Type": "Task", "Resource": "fn", **(task or {})}))
    return machine(
        (
            "Each",
            {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": concurrency,
                "ItemSelector": {"value.$": "$$.Map.Item.Value"},
                "ItemProcessor": processor,
                **items_state,
            },
        )
    )


def test_map_items_run_concurrently_but_never_more_than_max_concurrency():
    together = threading.Barrier(2, timeout=10)  # broken (an error) unless two items are in flight at once
    lock, running, peak = threading.Lock(), [0], [0]

    def invoke(resource, parameters):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        if parameters["value"] < 2:
            together.wait()
        with lock:
            running[0] -= 1
        return parameters["value"] * 10

    execution = Execution(each({}, concurrency=2), invoke)
    assert execution.run({"items": [0, 1, 2, 3, 4]}) == [0, 10, 20, 30, 40]  # in item order
    assert peak[0] == 2


def test_a_failed_item_fails_the_map_and_items_not_started_never_start():
    started = []

    def invoke(resource, parameters):
        started.append(parameters["value"])
        if parameters["value"] == 0:
            raise StatesError("Boom", "item 0")
        return parameters["value"]

    with pytest.raises(StatesError, match="Boom: item 0"):
        Execution(each({}, concurrency=1), invoke).run({"items": [0, 1, 2]})
    assert started == [0]


def test_a_task_past_its_timeout_seconds_is_a_states_timeout_that_a_catch_sees():
    release = threading.Event()

    def invoke(resource, parameters):
        release.wait(30)
        return "late"

    definition = machine(
        (
            "Slow",
            {
                "Type": "Task",
                "Resource": "fn",
                "TimeoutSeconds": 1,
                "Next": "Done",
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Done"}],
            },
        ),
        ("Done", {"Type": "Pass", "OutputPath": "$.error", "End": True}),
    )
    try:
        error = Execution(definition, invoke).run({})
    finally:
        release.set()
    assert error["Error"] == "States.Timeout" and "TimeoutSeconds (1)" in error["Cause"]


def test_the_execution_timeout_ends_the_execution_past_any_catch():
    now = [0.0]

    def invoke(resource, parameters):
        now[0] += 60  # each task takes a minute of the fake clock
        return {}

    task = {
        "Type": "Task",
        "Resource": "fn",
        "ResultPath": None,
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
    }
    definition = machine(
        ("One", dict(task)),
        ("Two", dict(task)),
        ("Three", dict(task)),
        ("Caught", {"Type": "Succeed"}),
        TimeoutSeconds=90,
    )
    definition["States"]["Three"]["End"] = True
    with pytest.raises(ExecutionTimedOut, match="States.Timeout.*before Three"):
        Execution(definition, invoke, clock=lambda: now[0]).run({})


def test_a_payload_over_256_kib_is_data_limit_exceeded_and_states_all_does_not_catch_it():
    big = "x" * PAYLOAD_LIMIT_BYTES
    definition = machine(
        (
            "Big",
            {
                "Type": "Task",
                "Resource": "fn",
                "Next": "Done",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}],
            },
        ),
        ("Done", {"Type": "Succeed"}),
    )
    with pytest.raises(StatesError, match="States.DataLimitExceeded: the result of Big is"):
        Execution(definition, lambda resource, parameters: big).run({})
    with pytest.raises(StatesError, match="States.DataLimitExceeded: the execution's input"):
        Execution(definition, never).run({"text": big})
    assert Execution(definition, lambda resource, parameters: big[:-20]).run({}) == big[:-20]


def test_the_history_is_counted_as_step_functions_counts_its_events():
    definition = each({"End": True}, task={"Resource": "arn:aws:states:::batch:submitJob.sync"})
    execution = Execution(definition, lambda resource, parameters: 1)
    execution.run({"items": [1, 2]})
    # ExecutionStarted/Succeeded 2, MapStateEntered/Started/Succeeded/Exited 4, per item MapIterationStarted/
    # Succeeded 2 and TaskStateEntered, TaskScheduled, TaskStarted, TaskSubmitted, TaskSucceeded, TaskStateExited 6
    assert history_event_count(execution.history) == 2 + 4 + 2 * (2 + 6)
    assert history_event_count(execution.history, (("Each", 1),)) == 2 + 6  # one item: its iteration and states


def test_a_task_gets_its_parameters_and_its_result_is_selected():
    calls = []

    def invoke(resource, parameters):
        calls.append((resource, parameters))
        return {"JobId": "job-1", "Status": "SUCCEEDED", "Noise": 1}

    definition = machine(
        (
            "Submit",
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::batch:submitJob.sync",
                "Parameters": {
                    "JobName.$": "States.Format('evaluate-{}', $.id)",
                    "ContainerOverrides": {"Command.$": "States.Array('run', $.id)"},
                },
                "ResultSelector": {"job_id.$": "$.JobId", "status.$": "$.Status"},
                "ResultPath": "$.batch",
            },
        )
    )
    assert Execution(definition, invoke).run({"id": "e1"}) == {
        "id": "e1",
        "batch": {"job_id": "job-1", "status": "SUCCEEDED"},
    }
    assert calls == [
        (
            "arn:aws:states:::batch:submitJob.sync",
            {"JobName": "evaluate-e1", "ContainerOverrides": {"Command": ["run", "e1"]}},
        )
    ]


def test_retry_then_catch_without_waiting():
    attempts = []

    def invoke(resource, parameters):
        attempts.append(resource)
        raise StatesError("Lambda.TooManyRequestsException", "slow down")

    definition = machine(
        (
            "Step",
            {
                "Type": "Task",
                "Resource": "fn",
                "Next": "Done",
                "Retry": [
                    {
                        "ErrorEquals": ["Lambda.TooManyRequestsException"],
                        "MaxAttempts": 2,
                        "IntervalSeconds": 3600,
                        "BackoffRate": 2,
                    }
                ],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
            },
        ),
        ("Done", {"Type": "Succeed"}),
        ("Caught", {"Type": "Pass", "End": True}),
    )
    execution = Execution(definition, invoke)
    assert execution.run({"a": 1}) == {
        "a": 1,
        "error": {"Error": "Lambda.TooManyRequestsException", "Cause": "slow down"},
    }
    assert len(attempts) == 3 and [e.kind for e in execution.history].count("retry") == 2


def test_an_exception_becomes_an_error_named_by_its_type_with_a_lambda_cause():
    def invoke(resource, parameters):
        raise KeyError("experiment")

    definition = machine(
        (
            "Step",
            {
                "Type": "Task",
                "Resource": "fn",
                "Next": "Done",
                "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Done"}],
            },
        ),
        ("Done", {"Type": "Pass", "OutputPath": "$.error", "End": True}),
    )
    error = Execution(definition, invoke).run({})
    assert error["Error"] == "KeyError"
    assert json.loads(error["Cause"])["errorMessage"] == "'experiment'"


def test_a_runtime_error_is_not_caught_and_a_fail_state_fails():
    definition = machine(("Step", {"Type": "Pass", "InputPath": "$.missing", "End": True}))
    with pytest.raises(StatesError, match="States.Runtime"):
        Execution(definition, never).run({})
    with pytest.raises(StatesError, match="Boom: why"):
        Execution(machine(("F", {"Type": "Fail", "Error": "Boom", "Cause": "why"})), never).run({})


@pytest.mark.parametrize(
    "definition, message",
    [
        (machine(("W", {"Type": "Wait", "Seconds": 5, "End": True})), "state type Wait"),
        (
            machine(("M", {"Type": "Map", "ItemReader": {}, "ItemProcessor": machine(("P", {"Type": "Succeed"}))})),
            "ItemReader",
        ),
        (
            machine(("T", {"Type": "Task", "Resource": "fn", "Retry": [{"ErrorEquals": ["X"], "MaxAttemptz": 1}]})),
            "Retry.MaxAttemptz",
        ),
        (machine(("P", {"Type": "Pass"}), QueryLanguage="JSONata"), "JSONPath"),
    ],
)
def test_what_is_not_implemented_is_refused(definition, message):
    with pytest.raises(UnsupportedAsl, match=message):
        Execution(definition, never).run({})
