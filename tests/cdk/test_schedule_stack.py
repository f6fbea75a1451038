"""The schedule stack: the run schedule (off until enabled), the daily cost read, the budget (email only)."""

from __future__ import annotations

import json

from stacks.pipeline import SCHEDULED_FLAG

from .cdk_app import STACK_PARTS
from .cfn_json import actions, imports, statements


def _schedules(synth) -> dict[str, dict]:
    return {key: value["Properties"] for key, value in synth.resources("Schedule", "AWS::Scheduler::Schedule").items()}


def _runs(synth) -> dict:
    [runs] = [props for key, props in _schedules(synth).items() if key.startswith("Runs")]
    return runs


def test_run_schedule_is_disabled_by_default_at_the_context_rate(synth):
    runs = _runs(synth)
    assert synth.settings.schedule_enabled is False
    assert runs["State"] == "DISABLED"
    assert runs["ScheduleExpression"] == synth.settings.schedule_rate == "rate(6 hours)"
    # the state machine's defaults; the flag makes it start nothing while another execution runs
    assert json.loads(runs["Target"]["Input"]) == {SCHEDULED_FLAG: True}
    assert all(name.startswith("AiV1-Pipeline:") for name in imports(runs["Target"]["Arn"]))


def test_run_schedule_enabled_by_context(variant):
    runs = _runs(variant)
    assert runs["State"] == "ENABLED" and runs["ScheduleExpression"] == "rate(2 hours)"


def test_the_schedule_input_names_the_context_corpus(variant):
    # the variant's schedule_corpus; the state machine reads "corpus" from its input (stacks/pipeline.py)
    assert json.loads(_runs(variant)["Target"]["Input"]) == {SCHEDULED_FLAG: True, "corpus": "derf-cif"}


def test_schedule_role_may_only_start_the_state_machine(synth):
    found = statements(synth.template("Schedule"), "RunsRole")
    assert actions(found) == {"states:StartExecution"}
    [role] = [r["Properties"] for k, r in synth.resources("Schedule", "AWS::IAM::Role").items() if k.startswith("Runs")]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]


def test_costs_are_read_daily_with_cost_explorer(synth):
    [daily] = [props for key, props in _schedules(synth).items() if key.startswith("DailyCosts")]
    assert daily["ScheduleExpression"] == "rate(1 day)" and daily["State"] == "ENABLED"
    assert "ce:GetCostAndUsage" in actions(statements(synth.template("Schedule"), "CostsFunctionRole"))
    [function] = synth.resources("Schedule", "AWS::Lambda::Function").values()
    assert function["Properties"]["Handler"] == "costs.handler"
    assert function["Properties"]["Environment"]["Variables"]["AIV_PROJECT"] == synth.settings.project


def test_no_budget_without_an_email(synth):
    assert synth.settings.budget_email is None
    assert synth.resources("Schedule", "AWS::Budgets::Budget") == {}


def test_budget_with_an_email_watches_the_project_tag(variant):
    budget = variant.only("Schedule", "AWS::Budgets::Budget")
    assert budget["Budget"]["BudgetLimit"] == {"Amount": variant.settings.budget_usd, "Unit": "USD"}
    assert budget["Budget"]["TimeUnit"] == "MONTHLY"
    assert budget["Budget"]["FilterExpression"]["Tags"] == {
        "Key": "Project",
        "Values": ["AiV1"],
        "MatchOptions": ["EQUALS"],
    }
    subscribers = [s for n in budget["NotificationsWithSubscribers"] for s in n["Subscribers"]]
    assert subscribers and all(s == {"SubscriptionType": "EMAIL", "Address": "lab@example.com"} for s in subscribers)
    kinds = {n["Notification"]["NotificationType"] for n in budget["NotificationsWithSubscribers"]}
    assert kinds == {"ACTUAL", "FORECASTED"}


def test_schedules_live_in_their_own_group(synth):
    group = synth.only("Schedule", "AWS::Scheduler::ScheduleGroup")
    assert {props["GroupName"] for props in _schedules(synth).values()} == {group["Name"]}
    outputs = synth.template("Schedule")["Outputs"]
    assert {"RunScheduleName", "RunScheduleGroup"} <= set(outputs)


def test_a_teardown_deletes_the_schedule_group_so_a_redeploy_can_create_it_again(synth):
    # its name is generated from the construct path, the same at every deploy: retained, it would block the next
    [group] = synth.resources("Schedule", "AWS::Scheduler::ScheduleGroup").values()
    assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Delete"
    retained = {
        key: resource
        for part in STACK_PARTS
        for key, resource in synth.template(part)["Resources"].items()
        if resource.get("DeletionPolicy") == "Retain"
    }
    # what docs/deploy.md lists as left behind: data, and API Gateway's account-wide logging role and setting
    prefixes = ("Experiments", "Artifacts", "AccessLogs", "ApiCloudWatchRole", "ApiAccount")
    assert sorted(key.rstrip("0123456789ABCDEF") for key in retained) == sorted(prefixes)
    for key, resource in retained.items():  # CloudFormation names them, so a redeploy creates new ones beside
        assert not {"TableName", "BucketName", "RoleName", "Name"} & set(resource["Properties"]), key
