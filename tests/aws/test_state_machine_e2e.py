"""The state machine the CDK app synthesizes, executed end to end on moto S3 and DynamoDB.

The definition comes from the synthesized pipeline template (tests/state_machine_template.py)
and runs in tests/aws/asl.py: each Lambda task calls the handler its template resource names
(functions/<module>.handler, in process), and the Batch task runs gpu_runner.entry's main with the
command the state machine sends, as the container would; a non-zero exit is a FAILED job. moto's own
Step Functions executor is not used: without Docker it cannot run Lambda code or Batch jobs.

The table starts empty: the first execution evaluates the built-in seeds (intra and hybrid, for
real, through the same Batch job) and then its candidate (the offline proposer mutates a seed);
later executions find the seeds archived. The campaign's clips are two tiny y4m files in the bucket.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import boto3
import pytest
from botocore.exceptions import NoRegionError
from asl import PAYLOAD_LIMIT_BYTES, Execution, StatesError, history_event_count, payload_size
from awslab import (
    BUCKET,
    IDEMPOTENCY_TABLE,
    REGION,
    TABLE,
    LambdaContext,
    apply_stack_env,
    handler_module,
    write_tiny_clips,
)
from batch import AttemptOutcome, BatchJobs
from moto import mock_aws

from aiv.benchmark import current_benchmark
from aiv.aws import control, environment
from aiv.candidate_loop import MAX_PROPOSAL_ATTEMPTS
from aiv.codec.builtin import BUILTIN_CODECS
from aiv.codec.contract import CodecSource, builtin_source
from aiv.names import code_key
from aiv.pipeline.importing import IMPORT_PREFIX, import_codec
from aiv.search.proposer import Proposal, Usage
from aiv.store.records import new_experiment
from aiv.store.table_design import create_tables, experiments_table_request
from gpu_runner.entry import main as run_batch_job
from stacks.settings import CANDIDATE_EVENTS_BUDGET, MAX_CANDIDATES, RUN_EVENTS_BUDGET

BATCH_SYNC = "arn:aws:states:::batch:submitJob.sync"
LIST_EXECUTIONS = "arn:aws:states:::aws-sdk:sfn:listExecutions"
ENTRY = ["python", "-m", "gpu_runner.entry"]
EMPTY_TABLE = f"{TABLE}-empty"
CRASHING = (
    "import numpy as np\n\n\ndef encode(y, u, v, fps, quality):\n    raise RuntimeError('boom in encode')\n\n\n"
    "def decode(bitstream):\n    return None\n"
)


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> dict:
    """{stack part: template} of the app as `cdk synth` makes it (cdk.json's context), with copy-only bundling."""
    from cdk.cdk_app import synthesize  # tests/cdk: the CDK tests' own synth

    return synthesize(tmp_path_factory.mktemp("cdk.out"), {}).templates


@pytest.fixture(scope="module")
def definition(synthesized) -> dict:
    from state_machine_template import state_machine_definition

    return state_machine_definition(synthesized["Pipeline"])


@dataclass(frozen=True)
class Routes:
    """Where the definition's tasks go: {logical id: handler module} of the pipeline's Lambda functions, and the
    GPU job definition's RetryStrategy (tests/aws/batch.py)."""

    handlers: dict[str, str]
    retry_strategy: dict


@pytest.fixture(scope="module")
def routes(synthesized) -> Routes:
    handlers = {
        logical_id: resource["Properties"]["Handler"].removesuffix(".handler")
        for logical_id, resource in synthesized["Pipeline"]["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    [job] = [r for r in synthesized["Compute"]["Resources"].values() if r["Type"] == "AWS::Batch::JobDefinition"]
    return Routes(handlers, job["Properties"]["RetryStrategy"])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """moto with the tables (empty), the bucket and the tiny clips under clips/."""
    with pytest.MonkeyPatch.context() as patch:
        apply_stack_env(patch)
        with mock_aws():
            create_tables(boto3.client("dynamodb"), TABLE, IDEMPOTENCY_TABLE)
            s3 = boto3.client("s3")
            s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
            for name, path in write_tiny_clips(tmp_path_factory.mktemp("clips")).items():
                s3.upload_file(str(path), BUCKET, f"clips/{name}")
            yield environment.lab_from_env(), patch
        environment.forget()


@pytest.fixture(scope="module")
def seeded(world, definition, routes) -> tuple:
    """The first execution on the empty table: (execution, output). Every later test finds the seeds archived."""
    return run(definition, routes, {"candidates": 1, "proposer": "offline", "seed": 5})


def run(
    definition: dict,
    routes: Routes,
    execution_input: dict,
    *,
    attempt=None,
    running: int = 1,
    broken: tuple[str, ...] = (),
) -> tuple[Execution, object]:
    """Execute the definition: Lambda tasks in process (a handler module in `broken` raises instead), the Batch
    task through tests/aws/batch.py, each attempt `attempt(parameters, number)` (default: gpu_runner.entry's main),
    and ListExecutions answering `running` executions RUNNING (this one included)."""

    def invoke(resource: str, parameters: dict):
        if resource in routes.handlers:
            module = routes.handlers[resource]
            if module in broken:
                raise RuntimeError(f"{module} is broken for this test")
            event = json.loads(json.dumps(parameters))  # what crosses the wire is JSON
            output = handler_module(module).handler(event, LambdaContext(function_name=resource))
            return json.loads(json.dumps(output))
        if resource == BATCH_SYNC:
            return BatchJobs(routes.retry_strategy, attempt or batch_attempt).submit(parameters)
        if resource == LIST_EXECUTIONS:
            assert parameters == {
                "StateMachineArn": execution.machine_arn,
                "StatusFilter": "RUNNING",
                "MaxResults": 2,
            }, parameters
            return {"Executions": [{"executionArn": f"{execution.arn}-{i}"} for i in range(min(running, 2))]}
        raise AssertionError(f"the definition calls {resource}, which this test does not route")

    execution = Execution(definition, invoke, name=f"run-{uuid.uuid4().hex[:8]}")
    return execution, execution.run(execution_input)


def batch_attempt(parameters: dict, number: int) -> AttemptOutcome:
    """One attempt of the GPU job: its command run in process, as the container would run it."""
    command = parameters["ContainerOverrides"]["Command"]
    assert command[:3] == ENTRY, command
    return AttemptOutcome(exit_code=run_batch_job(command[3:]))


def states_entered(execution: Execution) -> list[str]:
    return [event.state for event in execution.history if event.kind == "entered"]


def test_the_stacks_give_the_runtime_the_variables_it_reads(synthesized, routes):
    needed = {environment.TABLE, environment.IDEMPOTENCY_TABLE, environment.BUCKET, environment.SETTINGS}
    for logical_id in routes.handlers:
        variables = synthesized["Pipeline"]["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        assert needed <= set(variables), (logical_id, needed - set(variables))
    [job] = [r for r in synthesized["Compute"]["Resources"].values() if r["Type"] == "AWS::Batch::JobDefinition"]
    variables = {v["Name"] for v in job["Properties"]["ContainerProperties"]["Environment"]}
    assert {environment.TABLE, environment.BUCKET, environment.SETTINGS, environment.CLIPS_PREFIX} <= variables


def seed_experiments(lab) -> dict[str, list[dict]]:
    """{built-in name: the experiments holding its code}."""
    return {name: lab.experiments.find_by_code(builtin_source(name).sha256) for name in BUILTIN_CODECS}


def test_an_empty_table_gets_its_seeds_evaluated_then_a_candidate_succeeds(world, seeded):
    lab, _ = world
    execution, output = seeded
    entered = states_entered(execution)
    for state in ("Seed", "ValidateSeed", "EvaluateSeed", "RecordSeed", "SeedRecorded"):
        assert entered.count(state) == len(BUILTIN_CODECS), state
    assert max(i for i, state in enumerate(entered) if state == "SeedRecorded") < entered.index("Propose")
    seeds = seed_experiments(lab)
    for name, [experiment] in seeds.items():
        assert (experiment.status, experiment.proposer, experiment.run_id) == (
            "succeeded",
            "builtin",
            execution.name,
        ), name
        assert isinstance(experiment.score, float)
        result = json.loads(lab.artifacts.get(experiment.result_key))
        assert result["status"] == "ok" and [c["name"] for c in result["train"]["clips"]] == ["tiny_pan"]
    [outcome] = output  # the execution's output is the candidates' outcomes only
    candidate = lab.experiments.get_experiment(outcome["experiment_id"])
    assert outcome["status"] == candidate.status == "succeeded"
    assert candidate.parents[0] in {experiment.id for [experiment] in seeds.values()}


def test_the_admin_api_starts_executions_with_inputs_the_state_machine_reads(world, seeded, definition):
    lab, _ = world
    defaults = definition["States"]["Defaults"]["Parameters"]["defaults"]
    read = {key.removesuffix(".$") for key in defaults}
    archived = lab.experiments.best_experiments(limit=1, benchmark=current_benchmark(lab.experiments))[0].id
    assert set(control.run_input({"candidates": 2, "proposer": "offline"})) <= read
    assert set(control.rerun_input(lab.experiments, archived)) <= read


def test_an_imported_codec_is_evaluated_as_a_seed_of_the_execution_the_admin_api_starts(
    world, seeded, definition, routes, tiny_codec_source
):
    lab, _ = world
    name = f"import-{uuid.uuid4().hex[:8]}"
    entered = import_codec({"run_id": name, "name": "tiny", "source": tiny_codec_source, "origin": "a test"}, lab)
    execution_input = {
        "seeds": [*BUILTIN_CODECS, IMPORT_PREFIX + entered["experiment_id"]],
        "candidates": 1,
        "proposer": "offline",
        "seed": 21,
    }
    assert set(execution_input) <= {
        key.removesuffix(".$") for key in definition["States"]["Defaults"]["Parameters"]["defaults"]
    }
    execution, _ = run(definition, routes, execution_input)
    entered_states = states_entered(execution)
    assert entered_states.count("SeedArchived") == len(BUILTIN_CODECS)  # the built-ins were evaluated before
    assert entered_states.count("EvaluateSeed") == 1 and entered_states.count("SeedRecorded") == 1
    experiment = lab.experiments.get_experiment(entered["experiment_id"])
    assert (experiment.status, experiment.proposer, experiment.parents) == ("succeeded", "import", [])
    result = json.loads(lab.artifacts.get(experiment.result_key))
    assert [c["name"] for c in result["train"]["clips"]] == ["tiny_pan"]
    again, _ = run(definition, routes, execution_input)  # a later execution finds it archived
    assert states_entered(again).count("SeedArchived") == len(BUILTIN_CODECS) + 1


def test_a_candidate_is_proposed_evaluated_and_recorded(world, seeded, definition, routes):
    lab, _ = world
    archived = seed_experiments(lab)
    execution, output = run(definition, routes, {"candidates": 1, "proposer": "offline", "seed": 11})
    entered = states_entered(execution)
    assert entered.count("SeedArchived") == len(BUILTIN_CODECS)  # seed answered created False: not evaluated again
    assert not {"ValidateSeed", "EvaluateSeed", "RecordSeed"} & set(entered)
    assert seed_experiments(lab) == archived
    [outcome] = output
    assert outcome["status"] == "succeeded" and outcome["recorded"] is True
    experiment = lab.experiments.get_experiment(outcome["experiment_id"])
    assert experiment.status == "succeeded" and isinstance(experiment.score, float)
    assert experiment.score == outcome["score"] and experiment.run_id == execution.name
    assert experiment.proposer == "offline" and experiment.parents
    result = json.loads(lab.artifacts.get(experiment.result_key))
    assert result["status"] == "ok" and [c["name"] for c in result["train"]["clips"]] == ["tiny_pan"]
    assert entered.index("Propose") < entered.index("Validate") < entered.index("Evaluate") < entered.index("Record")
    assert any("evaluation finished: ok" in e["message"] for e in lab.experiments.events(experiment.id))


class CrashingProposer:
    """Writes a module whose encode always raises: the smoke run rejects it every time."""

    name = "crash"

    def propose(self, context) -> Proposal:
        note = f"# attempt with feedback: {context.retry_feedback.reason[:40]!r}\n" if context.retry_feedback else ""
        return Proposal(
            code=note + CRASHING,
            hypothesis="encode raises",
            parents=[context.parent.experiment_id],
            proposer=self.name,
            model=None,
            usage=Usage(),
        )


def run_crashing(world, definition: dict, routes: Routes, seed: int, **options) -> tuple[Execution, object]:
    """`run` of one candidate from the CrashingProposer (proposer "crash"), which the Lambdas can make then."""
    _, patch = world
    offline_and_claude = environment.proposer_factory

    def with_crash():
        make = offline_and_claude()
        return lambda name: CrashingProposer() if name == "crash" else make(name)

    patch.setattr(environment, "proposer_factory", with_crash)
    environment.forget()
    try:
        return run(definition, routes, {"candidates": 1, "proposer": "crash", "seed": seed}, **options)
    finally:
        patch.setattr(environment, "proposer_factory", offline_and_claude)
        environment.forget()


def test_a_candidate_rejected_three_times_is_recorded_as_rejected(world, seeded, definition, routes):
    lab, _ = world
    execution, output = run_crashing(world, definition, routes, 3)
    [outcome] = output
    experiment = lab.experiments.get_experiment(outcome["experiment_id"])
    assert (outcome["status"], experiment.status) == ("rejected", "rejected")
    assert [a["stage"] for a in experiment.attempts] == ["smoke"] * MAX_PROPOSAL_ATTEMPTS
    assert "boom in encode" in experiment.failure["reason"]
    assert states_entered(execution).count("Propose") == MAX_PROPOSAL_ATTEMPTS
    assert "MarkRejected" in states_entered(execution)


def test_a_rejected_rerun_is_proposed_once(world, seeded, definition, routes):
    lab, _ = world
    source = CodecSource("crasher", CRASHING, "test")
    lab.artifacts.put(code_key(source.sha256), CRASHING.encode(), "text/x-python")
    crashed = new_experiment(
        "run-old", "offline", [], "crashes in encode", source.sha256, benchmark=current_benchmark(lab.experiments)
    )
    lab.experiments.create_experiment(crashed)
    execution, output = run(definition, routes, {"candidates": 1, "rerun_of": crashed.id, "seed": 31})
    [outcome] = output
    rerun = lab.experiments.get_experiment(outcome["experiment_id"])
    assert (outcome["status"], rerun.status, rerun.proposer) == ("rejected", "rejected", "rerun")
    assert [a["stage"] for a in rerun.attempts] == ["smoke"] and "boom in encode" in rerun.failure["reason"]
    assert states_entered(execution).count("Propose") == 1 and "Retry" not in states_entered(execution)


def test_a_failed_batch_job_is_caught_and_recorded_as_failed(world, seeded, definition, routes):
    lab, _ = world
    s3 = boto3.client("s3")
    clip = s3.get_object(Bucket=BUCKET, Key="clips/tiny_noise.y4m")["Body"].read()
    s3.delete_object(Bucket=BUCKET, Key="clips/tiny_noise.y4m")  # the job cannot fetch a campaign clip
    try:
        execution, output = run(definition, routes, {"candidates": 1, "proposer": "offline", "seed": 29})
    finally:
        s3.put_object(Bucket=BUCKET, Key="clips/tiny_noise.y4m", Body=clip)
    [outcome] = output
    experiment = lab.experiments.get_experiment(outcome["experiment_id"])
    assert (outcome["status"], experiment.status) == ("failed", "failed")
    assert experiment.failure["stage"] == "evaluate"
    assert experiment.failure["reason"].startswith("Batch job evaluate-")
    assert "FAILED: Essential container in task exited; exit code 1" in experiment.failure["reason"]
    assert [e.state for e in execution.history if e.kind == "caught"] == ["Evaluate"]
    assert any("the job failed: ClipError" in e["message"] for e in lab.experiments.events(experiment.id))


def test_with_no_seed_evaluated_the_candidates_fail_with_empty_archive_recorded(world, definition, routes):
    """Another, empty table, and a bucket without the train clip: every seed's job fails, the candidates go on,
    find nothing to improve, and their failure is a campaign event with the reason, not a stack trace."""
    _, patch = world
    s3 = boto3.client("s3")
    clip = s3.get_object(Bucket=BUCKET, Key="clips/tiny_pan.y4m")["Body"].read()
    s3.delete_object(Bucket=BUCKET, Key="clips/tiny_pan.y4m")
    boto3.client("dynamodb").create_table(**experiments_table_request(EMPTY_TABLE))  # the idempotency table is shared
    try:
        with patch.context() as empty:
            empty.setenv(environment.TABLE, EMPTY_TABLE)
            environment.forget()
            execution, output = run(definition, routes, {"candidates": 1, "proposer": "offline", "seed": 7})
            empty_lab = environment.lab_from_env()
            seeds = seed_experiments(empty_lab)
            events = empty_lab.experiments.recent_events(limit=20)
    finally:
        s3.put_object(Bucket=BUCKET, Key="clips/tiny_pan.y4m", Body=clip)
        environment.forget()
    for name, [experiment] in seeds.items():  # recorded through MarkSeedFailed, with the job's failure
        assert (experiment.status, experiment.failure["stage"]) == ("failed", "evaluate"), name
        assert experiment.failure["reason"].startswith("Batch job evaluate-")
    assert states_entered(execution).count("MarkSeedFailed") == len(BUILTIN_CODECS)
    assert output == [{"experiment_id": None, "status": "failed", "recorded": True}]
    assert [e.state for e in execution.history if e.kind == "caught"][-1] == "Propose"
    [event] = [e for e in events if e["experiment_id"] is None and e["kind"] == "failed"]
    assert (
        "failed at propose before an experiment existed: EmptyArchive: no experiment has succeeded on benchmark pending yet"
        in event["message"]
    )
    assert event["data"]["reason"].startswith("EmptyArchive: ")
    for text in (json.dumps(output), json.dumps(event)):
        assert "stackTrace" not in text and "Traceback" not in text and 'File "' not in text


def test_a_spot_reclaim_retries_the_job_and_the_next_attempt_redoes_the_evaluation(world, seeded, definition, routes):
    lab, _ = world

    def reclaimed_once(parameters: dict, number: int) -> AttemptOutcome:
        if number == 1:  # the instance went away mid-evaluation: the experiment is left evaluating, no result
            command = parameters["ContainerOverrides"]["Command"]
            experiment_id = command[command.index("--experiment-id") + 1]
            lab.experiments.update_experiment(experiment_id, {"status": "evaluating"}, expect_status=("validating",))
            return AttemptOutcome(exit_code=None, status_reason="Host EC2 (instance i-0123) terminated.")
        return batch_attempt(parameters, number)

    execution, output = run(
        definition, routes, {"candidates": 1, "proposer": "offline", "seed": 41}, attempt=reclaimed_once
    )
    [outcome] = output
    assert outcome["status"] == "succeeded"
    messages = [e["message"] for e in lab.experiments.events(outcome["experiment_id"])]
    assert any("redoing an evaluation an earlier attempt left unfinished" in m for m in messages)
    assert not [e for e in execution.history if e.kind == "caught"]


def test_a_job_that_exits_non_zero_is_not_retried(routes):
    attempts = []

    def failing(parameters: dict, number: int) -> AttemptOutcome:
        attempts.append(number)
        return AttemptOutcome(exit_code=1)

    with pytest.raises(StatesError, match="States.TaskFailed"):
        BatchJobs(routes.retry_strategy, failing).submit(
            {"JobName": "j", "JobQueue": "q", "JobDefinition": "d", "ContainerOverrides": {"Command": ENTRY}}
        )
    assert attempts == [1]  # EXIT on any other reason: an infrastructure error is not run three times


def test_when_recording_a_failure_fails_the_item_ends_unrecorded_and_its_siblings_go_on(
    world, seeded, definition, routes
):
    execution, output = run(
        definition, routes, {"candidates": 2, "proposer": "offline", "seed": 13}, broken=("propose", "mark_failed")
    )
    assert (
        output
        == [
            {
                "experiment_id": "",
                "status": "failed",
                "recorded": False,
                "stage": "propose",
                "error": "RuntimeError",
                "close_error": "RuntimeError",
            }
        ]
        * 2
    )  # both items ran to their end
    assert states_entered(execution).count("MarkFailedUnrecorded") == 2


def test_an_error_without_a_cause_is_recorded_with_its_name(world, seeded, definition, routes):
    lab, _ = world

    def no_cause(parameters: dict, number: int) -> AttemptOutcome:
        raise StatesError("States.Timeout")  # a .sync task past a timeout carries no Cause

    _, output = run(definition, routes, {"candidates": 1, "proposer": "offline", "seed": 17}, attempt=no_cause)
    [outcome] = output
    experiment = lab.experiments.get_experiment(outcome["experiment_id"])
    assert (outcome["status"], experiment.status) == ("failed", "failed")
    assert experiment.failure == {
        **experiment.failure,
        "stage": "evaluate",
        "reason": "States.Timeout (the error carried no cause)",
    }


def test_a_scheduled_run_starts_nothing_while_another_runs(world, seeded, definition, routes):
    execution, output = run(definition, routes, {"scheduled": True, "candidates": 1, "proposer": "offline"}, running=2)
    assert states_entered(execution) == ["Scheduled?", "ListRunning", "Overlapping?", "AnotherRunInProgress"]
    assert output["running"] == {"count": 2}
    alone, _ = run(
        definition, routes, {"scheduled": True, "candidates": 1, "proposer": "offline", "seed": 19}, running=1
    )
    assert "Recorded" in states_entered(alone)
    console, _ = run(definition, routes, {"candidates": 1, "proposer": "offline", "seed": 23}, running=2)
    assert "ListRunning" not in states_entered(console) and "Recorded" in states_entered(console)


@pytest.mark.parametrize("candidates", [0, MAX_CANDIDATES + 1, "3"])
def test_k_outside_the_range_fails_the_execution_before_anything_runs(world, definition, routes, candidates):
    with pytest.raises(
        StatesError, match=f"CandidatesOutOfRange: candidates must be a whole number from 1 to {MAX_CANDIDATES}"
    ):
        run(definition, routes, {"candidates": candidates, "proposer": "offline"})


def test_the_worst_candidate_fits_the_history_and_payload_budgets(world, seeded, definition, routes):
    """Rejected at every attempt, then neither the rejection nor the failure can be recorded: the longest path an
    item takes. Its history events (as Step Functions counts them) fit CANDIDATE_EVENTS_BUDGET, and its output
    fits 1/MAX_CANDIDATES of the Map's 256 KiB."""
    execution, output = run_crashing(world, definition, routes, 31, broken=("mark_failed",))
    assert states_entered(execution).count("Propose") == MAX_PROPOSAL_ATTEMPTS
    assert "MarkRejectedFailed" in states_entered(execution) and "MarkFailedUnrecorded" in states_entered(execution)
    events = history_event_count(execution.history, (("Candidates", 0),))
    throttling = 3 * 2  # room for two Lambda throttling retries (3 events each)
    assert events + throttling <= CANDIDATE_EVENTS_BUDGET, events
    assert payload_size(output[0]) * MAX_CANDIDATES <= PAYLOAD_LIMIT_BYTES
    total = history_event_count(execution.history)
    assert total - events <= RUN_EVENTS_BUDGET, total  # the seeds (archived) and the states around the Maps


def test_the_job_definition_alone_gives_the_runner_its_region(synthesized, monkeypatch):
    """ECS agents need not set AWS_REGION in a container: the job definition's variables must be enough."""
    [job] = [r for r in synthesized["Compute"]["Resources"].values() if r["Type"] == "AWS::Batch::JobDefinition"]
    variables = {v["Name"]: v["Value"] for v in job["Properties"]["ContainerProperties"]["Environment"]}
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")  # no profile region either
    with pytest.raises(NoRegionError):
        boto3.client("dynamodb")  # what the runner met before the job named its region
    for name, value in variables.items():
        if isinstance(value, str):
            monkeypatch.setenv(name, value)
    assert boto3.client("dynamodb").meta.region_name == "us-east-1"


def on_a_fresh_table(patch, table: str, execution_input: dict, definition: dict, routes: Routes) -> tuple:
    """Run `execution_input` on a new, empty experiments table `table`: (execution, output, its Lab)."""
    boto3.client("dynamodb").create_table(**experiments_table_request(table))  # the idempotency table is shared
    try:
        with patch.context() as fresh:
            fresh.setenv(environment.TABLE, table)
            environment.forget()
            execution, output = run(definition, routes, execution_input)
            return execution, output, environment.lab_from_env()
    finally:
        environment.forget()


def test_an_execution_naming_an_uploaded_set_trains_and_validates_on_its_clips(world, definition, routes, tmp_path):
    """{"corpus": set}: the seeds and the candidate are evaluated on the set's split, not AIV_SETTINGS' clips
    (train tiny_pan, validation tiny_noise); the set here has them the other way round."""
    from aiv.aws.clips import upload_set
    from aiv.video.library import ClipSet

    _, patch = world
    files = write_tiny_clips(tmp_path)
    upload_set(
        boto3.client("s3"), BUCKET, ClipSet("tiny-set", (str(files["tiny_noise.y4m"]),), (str(files["tiny_pan.y4m"]),))
    )
    assert "corpus" in definition["States"]["Defaults"]["Parameters"]["defaults"]
    execution, output, lab = on_a_fresh_table(
        patch,
        f"{TABLE}-corpus",
        {"corpus": "tiny-set", "candidates": 1, "proposer": "offline", "seed": 11},
        definition,
        routes,
    )
    seeds = seed_experiments(lab)
    [outcome] = output
    candidate = lab.experiments.get_experiment(outcome["experiment_id"])
    assert outcome["status"] == candidate.status == "succeeded"
    for experiment in [*(found for [found] in seeds.values()), candidate]:
        assert experiment.status == "succeeded", experiment.id
        result = json.loads(lab.artifacts.get(experiment.result_key))
        assert [c["name"] for c in result["train"]["clips"]] == ["tiny_noise"], experiment.id
        assert [c["name"] for c in result["validation"]["clips"]] == ["tiny_pan"], experiment.id
        assert (experiment.settings["train_clips"], experiment.settings["validation_clips"]) == (
            ["tiny-set/tiny_noise.y4m"],
            ["tiny-set/tiny_pan.y4m"],
        )
    assert states_entered(execution).count("EvaluateSeed") == len(BUILTIN_CODECS)  # each job got --corpus tiny-set


def test_an_execution_naming_a_set_not_in_the_bucket_records_why_each_item_failed(world, definition, routes):
    _, patch = world
    execution, output, lab = on_a_fresh_table(
        patch,
        f"{TABLE}-no-corpus",
        {"corpus": "no-such-set", "candidates": 1, "proposer": "offline", "seed": 13},
        definition,
        routes,
    )
    entered = states_entered(execution)
    assert "EvaluateSeed" not in entered and "Evaluate" not in entered  # no GPU job started
    assert entered.count("MarkSeedFailed") == len(BUILTIN_CODECS) and entered.count("MarkFailed") == 1
    assert output == [{"experiment_id": None, "status": "failed", "recorded": True}]
    failures = [e for e in lab.experiments.recent_events(limit=20) if e["kind"] == "failed"]
    assert len(failures) == len(BUILTIN_CODECS) + 1
    for event in failures:
        assert "no clip set 'no-such-set' in the bucket" in event["message"], event
        assert "aiv clips upload --corpus no-such-set" in event["data"]["reason"], event
