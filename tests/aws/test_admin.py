"""The admin Lambda: pause/resume the schedule (moto EventBridge Scheduler), start a run and a rerun
(moto Step Functions)."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from awslab import ACCOUNT, SCHEDULE, SCHEDULE_GROUP, STATE_MACHINE_ARN, handler_module, rest_event

from aiv.aws.control import SCHEDULE_STATE, next_run_at
from aiv.store.records import new_experiment

TARGET = {
    "Arn": STATE_MACHINE_ARN,
    "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/aiv-scheduler",
    "Input": json.dumps({"candidates": 4}),
}


@pytest.fixture
def deployed(lab):
    """The schedule (disabled, as the stack creates it) and the state machine, in moto."""
    scheduler = boto3.client("scheduler")
    scheduler.create_schedule_group(Name=SCHEDULE_GROUP)
    scheduler.create_schedule(
        Name=SCHEDULE,
        GroupName=SCHEDULE_GROUP,
        ScheduleExpression="rate(1 day)",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        Target=TARGET,
        State="DISABLED",
        Description="AiV1 campaign",
    )
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    arn = boto3.client("stepfunctions").create_state_machine(
        name=STATE_MACHINE_ARN.rsplit(":", 1)[1],
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/aiv-sfn",
    )["stateMachineArn"]
    assert arn == STATE_MACHINE_ARN
    return scheduler


def call(method: str, path: str, lambda_context, body: dict | str | None = None) -> tuple[int, dict]:
    text = json.dumps(body) if isinstance(body, dict) else body
    response = handler_module("admin").handler(rest_event(method, path, text), lambda_context)
    return response["statusCode"], json.loads(response["body"])


def test_a_base64_body_is_decoded(deployed, lambda_context):
    # the API declares every media type binary (stacks/dashboard.py), so API Gateway sends bodies base64-encoded
    event = rest_event("POST", "/admin/runs", base64.b64encode(b'{"candidates": 3}').decode())
    event["isBase64Encoded"] = True
    response = handler_module("admin").handler(event, lambda_context)
    assert response["statusCode"] == 202 and json.loads(response["body"])["input"] == {"candidates": 3}


def test_resume_enables_the_schedule_from_one_period_on(deployed, lab, lambda_context):
    before = datetime.now(timezone.utc)
    created = deployed.get_schedule(Name=SCHEDULE, GroupName=SCHEDULE_GROUP)
    status, document = call("POST", "/admin/resume", lambda_context)
    assert status == 200
    schedule = deployed.get_schedule(Name=SCHEDULE, GroupName=SCHEDULE_GROUP)
    assert schedule["State"] == "ENABLED"
    assert schedule["Target"] == created["Target"] and schedule["Target"]["Input"] == TARGET["Input"]
    assert schedule["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    assert schedule["Description"] == "AiV1 campaign"  # the rest of the definition survives the update
    start = schedule["StartDate"]
    assert before + timedelta(days=1) - timedelta(seconds=1) <= start <= datetime.now(timezone.utc) + timedelta(days=1)
    assert document["enabled"] is True and document["expression"] == "rate(1 day)"
    assert datetime.fromisoformat(document["next_run_at"]) == start
    assert lab.experiments.get_state(SCHEDULE_STATE) == document
    [event] = lab.experiments.recent_events(limit=1)
    assert event["kind"] == "admin" and event["message"] == f"resume by arn:aws:iam::{ACCOUNT}:user/alice"


def test_pause_disables_it_and_forgets_the_next_run(deployed, lab, lambda_context):
    call("POST", "/admin/resume", lambda_context)
    status, document = call("POST", "/admin/pause", lambda_context)
    assert status == 200 and document["enabled"] is False and document["next_run_at"] is None
    assert deployed.get_schedule(Name=SCHEDULE, GroupName=SCHEDULE_GROUP)["State"] == "DISABLED"
    assert lab.experiments.get_state(SCHEDULE_STATE)["enabled"] is False


def test_a_run_starts_an_execution_with_the_input(deployed, lambda_context):
    status, started = call("POST", "/admin/runs", lambda_context, {"candidates": 2, "proposer": "offline"})
    assert status == 202
    execution = boto3.client("stepfunctions").describe_execution(executionArn=started["execution_arn"])
    assert json.loads(execution["input"]) == {"candidates": 2, "proposer": "offline"}
    status, started = call("POST", "/admin/runs", lambda_context)
    assert status == 202 and started["input"] == {}  # the state machine's defaults
    status, started = call("POST", "/admin/runs", lambda_context, {"corpus": "derf-cif"})
    assert status == 202 and started["input"] == {"corpus": "derf-cif"}


@pytest.mark.parametrize(
    "body, message",
    [
        ({"candidates": 0}, "candidates must be a whole number from 1 to 100, got 0"),
        ({"candidates": True}, "candidates must be a whole number"),
        ({"proposer": "gpt"}, "proposer must be one of"),
        ({"iterations": 3}, r"unknown fields \['iterations'\]"),
        ({"corpus": "../clips"}, "corpus must be the name of a clip set"),
        ({"corpus": 3}, "corpus must be the name of a clip set"),
        ("{not json", "the request body is not JSON"),
    ],
)
def test_a_bad_run_request_is_a_400_saying_why(deployed, lambda_context, body, message):
    status, answer = call("POST", "/admin/runs", lambda_context, body)
    assert status == 400
    assert re.search(message, answer["message"])


def test_a_rerun_starts_an_execution_that_reevaluates_the_code(deployed, lab, lambda_context):
    experiment = new_experiment("run-1", "offline", [], "x", "ab" * 32, benchmark="bm-test")
    lab.experiments.create_experiment(experiment)
    status, started = call("POST", f"/admin/experiments/{experiment.id}/rerun", lambda_context)
    assert status == 202
    execution = boto3.client("stepfunctions").describe_execution(executionArn=started["execution_arn"])
    assert json.loads(execution["input"]) == {"candidates": 1, "proposer": "rerun", "rerun_of": experiment.id}


def test_a_rerun_of_nothing_is_404_and_of_no_code_400(deployed, lab, lambda_context):
    status, answer = call("POST", "/admin/experiments/exp-missing/rerun", lambda_context)
    assert (status, answer["message"]) == (404, "no experiment exp-missing")
    empty = new_experiment("run-1", "claude", [], "", None, benchmark="bm-test")
    lab.experiments.create_experiment(empty)
    status, answer = call("POST", f"/admin/experiments/{empty.id}/rerun", lambda_context)
    assert status == 400 and "has no code to rerun" in answer["message"]


def test_other_routes_are_404(deployed, lambda_context):
    response = handler_module("admin").handler(rest_event("GET", "/admin/pause"), lambda_context)
    assert response["statusCode"] == 404


NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "schedule, expected",
    [
        (
            {"State": "ENABLED", "ScheduleExpression": "rate(6 hours)", "StartDate": NOW - timedelta(hours=13)},
            NOW + timedelta(hours=5),
        ),
        (
            {"State": "ENABLED", "ScheduleExpression": "rate(1 day)", "StartDate": NOW + timedelta(minutes=3)},
            NOW + timedelta(minutes=3),
        ),
        (
            {
                "State": "ENABLED",
                "ScheduleExpression": "at(2026-11-22T09:30:00)",
                "ScheduleExpressionTimezone": "Europe/Paris",
            },
            datetime(2026, 11, 22, 8, 30, tzinfo=timezone.utc),
        ),
        ({"State": "ENABLED", "ScheduleExpression": "cron(0 3 * * ? *)"}, None),
        ({"State": "ENABLED", "ScheduleExpression": "rate(1 day)"}, None),
        ({"State": "DISABLED", "ScheduleExpression": "rate(1 day)", "StartDate": NOW}, None),
    ],
)
def test_the_next_run_is_computed_only_where_it_is_known(schedule, expected):
    found = next_run_at(schedule, NOW)
    assert (datetime.fromisoformat(found) if found else None) == expected
