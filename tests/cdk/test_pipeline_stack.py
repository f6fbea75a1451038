"""The pipeline stack: the step Lambdas and the state machine's shape, permissions and logging."""

from __future__ import annotations

import json

import pytest

from state_machine_template import PSEUDO_PARAMETERS, state_machine_definition

from aiv.aws.claude_limits import PROPOSE_LAMBDA_TIMEOUT_S
from aiv.candidate_loop import MAX_PROPOSAL_ATTEMPTS, RETRY_FIELD
from aiv.codec.builtin import BUILTIN_CODECS
from stacks.compute import ENTRY_COMMAND
from stacks.pipeline import NONE
from stacks.settings import CANDIDATE_EVENTS_BUDGET, HISTORY_EVENT_QUOTA, MAX_CANDIDATES, RUN_EVENTS_BUDGET

from .cdk_app import ROOT
from .cfn_json import actions, as_list, statements

STEP_FUNCTIONS = {
    "Propose": "propose",
    "Validate": "validate",
    "Record": "record",
    "MarkFailed": "mark_failed",
    "MarkRejected": "mark_failed",
    "Seed": "seed",
    "ValidateSeed": "validate",
    "RecordSeed": "record",
    "MarkSeedFailed": "mark_failed",
    "MarkSeedRejected": "mark_failed",
}
# Each Map's item: its tasks, and the one that closes a failed item.
ITEMS = {
    "Candidates": ({"Propose", "Validate", "Evaluate", "Record", "MarkRejected", "MarkFailed"}, "MarkFailed"),
    "Seeds": (
        {"Seed", "ValidateSeed", "EvaluateSeed", "RecordSeed", "MarkSeedRejected", "MarkSeedFailed"},
        "MarkSeedFailed",
    ),
}
PAYLOAD = {"execution.$", "step", "attempt.$", "item.$"}


@pytest.fixture(scope="module")
def definition(synth) -> dict:
    return state_machine_definition(synth.template("Pipeline"))


@pytest.fixture(scope="module")
def item_states(definition) -> dict:
    return definition["States"]["Candidates"]["ItemProcessor"]["States"]


@pytest.fixture(scope="module")
def seed_states(definition) -> dict:
    return definition["States"]["Seeds"]["ItemProcessor"]["States"]


def _without(state: dict, *keys: str) -> dict:
    return {key: value for key, value in state.items() if key not in keys}


def test_execution_builds_k_candidates_and_maps_them_with_bounded_concurrency(synth, definition):
    states = definition["States"]
    assert definition["StartAt"] == "Scheduled?" and states["Scheduled?"]["Default"] == "Defaults"
    assert states["Defaults"]["Parameters"]["input.$"] == "$$.Execution.Input"  # what the guard adds is not read
    defaults = states["Defaults"]["Parameters"]["defaults"]
    assert defaults["candidates"] == synth.settings.candidates and defaults["proposer"] == synth.settings.proposer
    assert states["Configure"]["Parameters"] == {"run.$": "States.JsonMerge($.defaults, $.input, false)"}
    assert states["Configure"]["Next"] == "CandidatesInRange?"
    assert states["Items"]["Parameters"]["items.$"] == "States.ArrayRange(1, $.run.candidates, 1)"
    candidates = states["Candidates"]
    assert candidates["Type"] == "Map" and candidates["ItemsPath"] == "$.items"
    assert candidates["MaxConcurrency"] == synth.settings.map_concurrency
    assert candidates["ItemSelector"]["attempt"] == 1 and candidates["ItemSelector"]["experiment_id"] == NONE
    assert candidates["ItemSelector"]["corpus.$"] == "$.run.corpus"
    assert definition["States"]["Defaults"]["Parameters"]["defaults"]["corpus"] == NONE  # AIV_SETTINGS' clips
    assert definition["TimeoutSeconds"] == synth.settings.execution_timeout_hours * 3600


def test_evaluate_is_a_batch_sync_job_running_the_gpu_runner(item_states):
    evaluate = item_states["Evaluate"]
    assert evaluate["Resource"] == "arn:aws:states:::batch:submitJob.sync"
    command = ", ".join(f"'{part}'" for part in ENTRY_COMMAND)
    assert evaluate["Parameters"]["ContainerOverrides"] == {
        "Command.$": f"States.Array({command}, $.last.experiment_id, '--corpus', $.corpus)"
    }  # "" (NONE): no set
    assert evaluate["Parameters"]["JobQueue"].startswith("AiV1-Compute:")
    # by name, without a revision: Batch takes the latest active one, and nothing is imported for it
    assert (
        evaluate["Parameters"]["JobDefinition"] == "arn:aws:batch:us-east-1:123456789012:job-definition/AiV1-gpu-runner"
    )
    assert evaluate["Next"] == "Record"
    assert (
        item_states["Record"]["Parameters"]["input"]["result_key.$"]
        == "States.Format('results/{}.json', $.last.experiment_id)"
    )


@pytest.mark.parametrize("item", ITEMS)
def test_every_task_catches_everything_and_ends_in_mark_failed(definition, item):
    states = definition["States"][item]["ItemProcessor"]["States"]
    names, closer = ITEMS[item]
    tasks = {name: state for name, state in states.items() if state["Type"] == "Task"}
    assert set(tasks) == names
    for name, state in tasks.items():
        [catch] = state["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"]
        if name == closer:  # recording the failure failed too: the item ends, the Map and its siblings go on
            assert catch["ResultPath"] == "$.close_error"
            unrecorded = states[catch["Next"]]
            assert unrecorded["Type"] == "Pass" and unrecorded["End"] is True
            assert unrecorded["Parameters"]["recorded"] is False and unrecorded["Parameters"]["status"] == "failed"
            continue
        assert catch["ResultPath"] == "$.error"
        failure = states[catch["Next"]]
        # the whole caught error: a Cause may be absent, and a path to a missing field would fail the item
        assert failure["Type"] == "Pass" and failure["Parameters"]["error.$"] == "$.error"
        assert not any("Cause" in value for value in failure["Parameters"].values() if isinstance(value, str))
        assert failure["Next"] == closer  # no branch ends an item with the raw Cause
        known = failure["Parameters"].get("experiment_id.$")
        assert known == {"Propose": "$.experiment_id", "Seed": None}.get(name, "$.last.experiment_id")
        if name == "Seed":
            assert failure["Parameters"]["experiment_id"] == NONE  # mark_failed records a campaign event
    assert states[closer]["Parameters"]["input.$"] == "$.failure"
    assert states[closer]["ResultPath"] == states[closer]["OutputPath"] == "$.outcome"


def test_the_seeds_are_evaluated_once_before_the_candidates(synth, definition, seed_states, item_states):
    states = definition["States"]
    assert states["Defaults"]["Parameters"]["defaults"]["seeds"] == list(BUILTIN_CODECS)  # an import adds its own
    assert states["Items"]["Parameters"]["seeds.$"] == "$.run.seeds"
    assert (states["Items"]["Next"], states["Seeds"]["Next"]) == ("Seeds", "Candidates")
    seeds = states["Seeds"]
    assert seeds["ItemsPath"] == "$.seeds" and seeds["MaxConcurrency"] == synth.settings.map_concurrency
    assert seeds["ResultPath"] is None  # the execution's output stays the candidates'
    assert seeds["ItemSelector"] == {
        "item.$": "$$.Map.Item.Index",
        "attempt": 1,
        "run_id.$": "$$.Execution.Name",
        "name.$": "$$.Map.Item.Value",
        "corpus.$": "$.run.corpus",
    }
    assert seeds["ItemProcessor"]["StartAt"] == "Seed"
    assert seed_states["Seed"]["Parameters"]["input"] == {"run_id.$": "$.run_id", "name.$": "$.name"}
    created = seed_states["SeedCreated?"]
    assert created["Choices"] == [{"Variable": "$.last.created", "BooleanEquals": True, "Next": "ValidateSeed"}]
    assert seed_states[created["Default"]] == {
        "Type": "Pass",
        "Comment": "evaluated by an earlier execution",
        "OutputPath": "$.last",
        "End": True,
    }
    valid = seed_states["SeedValid?"]
    assert valid["Choices"][0]["Next"] == "EvaluateSeed" and valid["Default"] == "MarkSeedRejected"
    # The candidates' Batch job and record step, built by the same factories.
    assert _without(seed_states["EvaluateSeed"], "Next", "Catch") == _without(item_states["Evaluate"], "Next", "Catch")
    record, twin = seed_states["RecordSeed"], item_states["Record"]
    assert _without(record, "Next", "Catch", "Parameters") == _without(twin, "Next", "Catch", "Parameters")
    assert record["Parameters"]["input"] == twin["Parameters"]["input"]
    rejected = seed_states["SeedRejected?"]
    assert rejected["Choices"][0]["Next"] == "MarkSeedRejected" and seed_states[rejected["Default"]]["End"] is True
    assert seed_states["MarkSeedRejected"]["Parameters"]["input"] == item_states["MarkRejected"]["Parameters"]["input"]
    assert seed_states["MarkSeedRejected"]["Parameters"]["input"]["status"] == "rejected"
    assert "Retry" not in seed_states and "Propose" not in seed_states  # a built-in codec is not re-proposed


def test_rejections_loop_back_to_propose_until_the_attempts_run_out(item_states):
    for choice, flag in (("Proposed?", "$.last.proposed"), ("Valid?", "$.last.valid")):
        state = item_states[choice]
        assert state["Choices"][0]["Variable"] == flag and state["Default"] == "AttemptsLeft?"
    rejected = item_states["Rejected?"]["Choices"][0]
    assert rejected == {"Variable": "$.last.rejected", "BooleanEquals": True, "Next": "AttemptsLeft?"}
    left = item_states["AttemptsLeft?"]
    assert left["Choices"] == [
        {
            "And": [
                {"Variable": f"$.last.{RETRY_FIELD}", "BooleanEquals": True},
                {"Variable": "$.attempt", "NumericLessThan": MAX_PROPOSAL_ATTEMPTS},
            ],
            "Next": "Retry",
        }
    ]
    assert left["Default"] == "MarkRejected"
    retry = item_states["Retry"]
    assert retry["Next"] == "Propose"
    assert retry["Parameters"]["attempt.$"] == "States.MathAdd($.attempt, 1)"
    assert retry["Parameters"]["feedback"] == {"stage.$": "$.last.stage", "reason.$": "$.last.reason"}
    assert item_states["MarkRejected"]["Parameters"]["input"]["status"] == "rejected"


def test_each_lambda_gets_the_step_payload_and_exists_as_a_handler(synth, item_states, seed_states):
    functions = synth.resources("Pipeline", "AWS::Lambda::Function")
    for name, module in STEP_FUNCTIONS.items():
        state = {**item_states, **seed_states}[name]
        assert PAYLOAD <= set(state["Parameters"]) and state["Parameters"]["step"] == name
        assert {"input", "input.$"} & set(state["Parameters"])
        assert functions[state["Resource"]]["Properties"]["Handler"] == f"{module}.handler"
        assert (ROOT / "functions" / f"{module}.py").is_file()


def test_step_lambdas_are_python_312_traced_with_the_lab_environment(synth):
    for function in synth.resources("Pipeline", "AWS::Lambda::Function").values():
        props = function["Properties"]
        assert props["Runtime"] == "python3.12" and props["TracingConfig"] == {"Mode": "Active"}
        variables = props["Environment"]["Variables"]
        assert {
            "AIV_TABLE",
            "AIV_IDEMPOTENCY_TABLE",
            "AIV_BUCKET",
            "AIV_API_KEY_SECRET",
            "AIV_SETTINGS",
            "AIV_PROJECT",
            "POWERTOOLS_SERVICE_NAME",
        } <= set(variables)
        assert variables["AIV_USE_BEDROCK"] == "0" and variables["AIV_CLIPS_PREFIX"] == "clips/"
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "AiV1"
        assert json.loads(variables["AIV_SETTINGS"]) == synth.settings.campaign
        assert "LogGroup" in props["LoggingConfig"]
    for group in synth.resources("Pipeline", "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == synth.settings.log_retention_days


def test_only_propose_reads_the_api_key(synth):
    template = synth.template("Pipeline")
    for name in ("Seed", "Propose", "Validate", "Record", "MarkFailed"):
        reads_secret = "secretsmanager:GetSecretValue" in actions(statements(template, f"{name}FunctionRole"))
        assert reads_secret == (name == "Propose")


def test_only_seed_and_propose_write_artifacts(synth):
    template = synth.template("Pipeline")
    for name in ("Seed", "Propose", "Validate", "Record", "MarkFailed"):
        writes = "s3:PutObject" in actions(statements(template, f"{name}FunctionRole"))
        assert writes == (name in ("Seed", "Propose"))  # the code/<sha>.py of a seed or a proposal


def test_the_propose_lambda_has_the_timeout_the_claude_client_is_sized_for(synth):
    functions = synth.resources("Pipeline", "AWS::Lambda::Function").values()
    [propose] = [f["Properties"] for f in functions if f["Properties"]["Handler"] == "propose.handler"]
    assert propose["Timeout"] == PROPOSE_LAMBDA_TIMEOUT_S


def test_bedrock_variant_grants_anthropic_models_only(variant):
    template = variant.template("Pipeline")
    found = [s for s in statements(template, "ProposeFunctionRole") if "bedrock:InvokeModel" in as_list(s["Action"])]
    [statement] = found
    assert all("anthropic." in json.dumps(resource) for resource in statement["Resource"])
    for function in variant.resources("Pipeline", "AWS::Lambda::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["AIV_USE_BEDROCK"] == "1" and "AIV_API_KEY_SECRET" not in variables


def test_state_machine_may_follow_and_terminate_its_batch_jobs(synth):
    found = statements(synth.template("Pipeline"), "StateMachineRole")
    allowed = actions(found)
    assert {
        "batch:SubmitJob",
        "batch:DescribeJobs",
        "batch:TerminateJob",
        "events:PutRule",
        "events:PutTargets",
        "events:DescribeRule",
        "lambda:InvokeFunction",
    } <= allowed
    [submit] = [s for s in found if "batch:SubmitJob" in as_list(s["Action"])]
    definition, queue = submit["Resource"]
    assert definition["Fn::Join"][1][-1] == ":job-definition/AiV1-gpu-runner*"  # that one name, any revision
    assert queue["Fn::ImportValue"].startswith("AiV1-Compute:")
    [terminate] = [s for s in found if "batch:TerminateJob" in as_list(s["Action"])]
    assert terminate["Resource"]["Fn::Join"][1][-1] == ":job/*"  # this account's jobs in this region
    assert any("StepFunctionsGetEventsForBatchJobsRule" in json.dumps(s["Resource"]) for s in found)


def test_state_machine_logs_everything_and_traces(synth):
    machine = synth.only("Pipeline", "AWS::StepFunctions::StateMachine")
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    assert machine["LoggingConfiguration"]["IncludeExecutionData"] is True
    assert machine["TracingConfiguration"] == {"Enabled": True}


def _template(definition_string) -> dict:
    return {
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"DefinitionString": definition_string},
            }
        }
    }


def test_definition_reader_resolves_references_and_substitutions():
    joined = {
        "Fn::Join": [
            "",
            [
                '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"',
                {"Fn::GetAtt": ["Fn1", "Arn"]},
                '","Parameters":{"Q":"',
                {"Fn::ImportValue": "Other:Queue"},
                '","P":"arn:',
                {"Ref": "AWS::Partition"},
                '"},"End":true}}}',
            ],
        ]
    }
    state = state_machine_definition(_template(joined))["States"]["A"]
    assert state["Resource"] == "Fn1"
    assert state["Parameters"] == {"Q": "Other:Queue", "P": f"arn:{PSEUDO_PARAMETERS['AWS::Partition']}"}
    swapped = state_machine_definition(_template(joined), {"Fn1": "arn:aws:lambda:us-east-1:1:function:f"})
    assert swapped["States"]["A"]["Resource"] == "arn:aws:lambda:us-east-1:1:function:f"
    assert state_machine_definition(_template('{"StartAt":"A","States":{}}')) == {"StartAt": "A", "States": {}}


def test_definition_reader_refuses_what_it_cannot_resolve():
    with pytest.raises(ValueError, match="2 state machines"):
        state_machine_definition(
            {"Resources": {**_template("{}")["Resources"], "Again": _template("{}")["Resources"]["Machine"]}}
        )
    with pytest.raises(ValueError, match="does not resolve"):
        state_machine_definition(_template({"Fn::Join": ["", ["{", {"Fn::Sub": "x"}, "}"]]}))
    with pytest.raises(ValueError, match="neither a string nor an Fn::Join"):
        state_machine_definition(_template({"Fn::Join": [",", []]}))


def test_k_outside_what_fits_the_history_quota_fails_before_anything_runs(definition):
    states = definition["States"]
    in_range = states["CandidatesInRange?"]
    assert in_range["Default"] == "Items"
    [rule] = in_range["Choices"]
    assert rule["Next"] == "CandidatesOutOfRange" and states["CandidatesOutOfRange"]["Type"] == "Fail"
    assert {"Not": {"Variable": "$.run.candidates", "IsNumeric": True}} in rule["Or"]
    assert {"Variable": "$.run.candidates", "NumericLessThan": 1} in rule["Or"]
    assert {"Variable": "$.run.candidates", "NumericGreaterThan": MAX_CANDIDATES} in rule["Or"]
    assert MAX_CANDIDATES * CANDIDATE_EVENTS_BUDGET + RUN_EVENTS_BUDGET <= HISTORY_EVENT_QUOTA == 25_000


def test_a_scheduled_run_starts_nothing_while_another_execution_runs(synth, definition):
    states = definition["States"]
    [scheduled] = states["Scheduled?"]["Choices"]
    assert scheduled["Next"] == "ListRunning"
    listing = states["ListRunning"]
    assert listing["Resource"] == "arn:aws:states:::aws-sdk:sfn:listExecutions"
    assert listing["Parameters"] == {
        "StateMachineArn.$": "$$.StateMachine.Id",
        "StatusFilter": "RUNNING",
        "MaxResults": 2,
    }
    [overlapping] = states["Overlapping?"]["Choices"]
    assert overlapping == {"Variable": "$.running.count", "NumericGreaterThan": 1, "Next": "AnotherRunInProgress"}
    assert states["AnotherRunInProgress"]["Type"] == "Succeed" and states["Overlapping?"]["Default"] == "Defaults"
    machine = synth.only("Pipeline", "AWS::StepFunctions::StateMachine")
    assert machine["StateMachineName"] == "AiV1-Pipeline"
    [listing_grant] = [
        s
        for s in statements(synth.template("Pipeline"), "StateMachineRole")
        if "states:ListExecutions" in as_list(s["Action"])
    ]
    assert listing_grant["Resource"]["Fn::Join"][1][-1] == ":stateMachine:AiV1-Pipeline"  # itself only


def test_no_stack_imports_the_job_definition_so_a_new_revision_changes_no_export(synth):
    imported = {json.dumps(part) for part in _intrinsics(synth.template("Pipeline"), "Fn::ImportValue")}
    assert not any("JobDefinition" in name or "GpuJob" in name for name in imported)
    job = synth.only("Compute", "AWS::Batch::JobDefinition")
    assert job["JobDefinitionName"] == "AiV1-gpu-runner"


def _intrinsics(node, name: str) -> list:
    """Every value of intrinsic `name` anywhere in a template."""
    if isinstance(node, dict):
        return [node[name]] if name in node else [v for value in node.values() for v in _intrinsics(value, name)]
    if isinstance(node, list):
        return [v for value in node for v in _intrinsics(value, name)]
    return []
