"""The pipeline-step Lambdas (functions/propose, validate, record, mark_failed) against moto DynamoDB and S3."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from awslab import add_candidate, handler_module, metric_names, step_event

from aiv.names import BEST_HISTORY_STATE
from aiv.pipeline.recording import note_best
from aiv.store.records import UNKNOWN_BENCHMARK, Experiment, new_experiment


def proposed_experiment(lab, code: str) -> str:
    return add_candidate(lab.experiments, lab.artifacts, code)


def test_propose_creates_an_experiment_with_its_code_in_the_bucket(archived_parent, lab, lambda_context, capsys):
    propose = handler_module("propose")
    out = propose.handler(
        step_event("Propose", {"run_id": "run-1", "proposer": "offline", "random_seed": 7}), lambda_context
    )
    assert out["proposed"] is True and out["attempt"] == 1
    experiment = lab.experiments.get_experiment(out["experiment_id"])
    assert experiment.parents == [archived_parent.id]
    assert experiment.proposer == "offline" and experiment.status == "proposed"
    assert b"PARAMS" in lab.artifacts.get(experiment.code_key)
    assert metric_names(capsys.readouterr().out) == ["ProposalsCreated"]


def test_a_repeated_invocation_of_one_state_runs_the_step_once(archived_parent, lab, lambda_context, capsys):
    propose = handler_module("propose")
    event = step_event("Propose", {"run_id": "run-1", "proposer": "offline", "random_seed": 7})
    first, second = propose.handler(event, lambda_context), propose.handler(event, lambda_context)
    assert first == second
    assert lab.experiments.count_by_status().get("proposed") == 1
    assert metric_names(capsys.readouterr().out) == ["ProposalsCreated"]  # the replay counts nothing
    third = propose.handler(
        step_event("Propose", {"run_id": "run-1", "proposer": "offline", "random_seed": 7}, attempt=2), lambda_context
    )
    assert third["experiment_id"] != first["experiment_id"]  # another attempt is another invocation


def test_a_malformed_payload_is_refused_naming_what_is_missing(aws, lambda_context):
    propose = handler_module("propose")
    event = step_event("Propose", {"run_id": "run-1", "proposer": "offline", "random_seed": 7})
    del event["attempt"]
    with pytest.raises(ValueError, match=r"lacks \['attempt'\]"):
        propose.handler(event, lambda_context)
    with pytest.raises(ValueError, match=r"item \(str, not int\)"):
        propose.handler(dict(event, attempt=1, item="0"), lambda_context)
    with pytest.raises(ValueError, match=r"corpus \(list, not str\)"):
        propose.handler(dict(event, attempt=1, item=0, corpus=["derf-cif"]), lambda_context)


def test_an_unknown_proposer_fails_the_step_with_its_name(archived_parent, lambda_context):
    from aiv.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown proposer 'gpt'"):
        handler_module("propose").handler(
            step_event("Propose", {"run_id": "r", "proposer": "gpt", "random_seed": 1}), lambda_context
        )


def test_seed_enters_a_built_in_codec_once(lab, lambda_context, capsys):
    seed = handler_module("seed")
    first = seed.handler(step_event("Seed", {"run_id": "run-1", "name": "intra"}), lambda_context)
    assert first["created"] is True
    experiment = lab.experiments.get_experiment(first["experiment_id"])
    assert (experiment.proposer, experiment.status) == ("builtin", "proposed")
    assert lab.artifacts.exists(experiment.code_key)
    later = step_event("Seed", {"run_id": "run-2", "name": "intra"})
    later["execution"] = later["execution"].replace("run-1", "run-2")  # another execution: not an idempotent replay
    again = seed.handler(later, lambda_context)
    assert again == {"run_id": "run-2", "experiment_id": first["experiment_id"], "created": False}
    assert metric_names(capsys.readouterr().out) == ["SeedsCreated", "SeedsArchived"]


def test_validate_passes_a_conforming_module(lab, lambda_context, tiny_codec_source, capsys):
    experiment_id = proposed_experiment(lab, tiny_codec_source)
    out = handler_module("validate").handler(
        step_event("Validate", {"experiment_id": experiment_id, "attempt": 1}), lambda_context
    )
    assert out["valid"] is True
    assert lab.experiments.get_experiment(experiment_id).status == "validating"
    assert metric_names(capsys.readouterr().out) == ["ValidationPassed"]


def test_validate_rejects_a_policy_violation_with_the_reason(lab, lambda_context, capsys):
    code = "import os\n\ndef encode(y, u, v, fps, quality):\n    return b''\n\ndef decode(b):\n    return None\n"
    experiment_id = proposed_experiment(lab, code)
    out = handler_module("validate").handler(
        step_event("Validate", {"experiment_id": experiment_id, "attempt": 1}), lambda_context
    )
    assert (out["valid"], out["stage"]) == (False, "policy")
    assert "os" in out["reason"]
    experiment = lab.experiments.get_experiment(experiment_id)
    assert experiment.attempts[0]["stage"] == "policy" and experiment.status == "proposed"
    assert metric_names(capsys.readouterr().out) == ["ValidationRejected"]


def evaluated(lab, tiny_codec_source: str, result: dict) -> str:
    """An experiment in status "evaluating" whose results/<id>.json is `result`."""
    experiment_id = proposed_experiment(lab, tiny_codec_source)
    lab.experiments.update_experiment(experiment_id, {"status": "evaluating", "stage": "evaluate"})
    lab.artifacts.put(f"results/{experiment_id}.json", json.dumps(dict(result, experiment_id=experiment_id)).encode())
    return experiment_id


def test_record_sends_a_smoke_rejection_back_to_propose(lab, lambda_context, tiny_codec_source, capsys):
    experiment_id = evaluated(
        lab,
        tiny_codec_source,
        {"status": "rejected", "stage": "smoke", "reason": "encode failed on the smoke clip: boom"},
    )
    event = {"experiment_id": experiment_id, "result_key": f"results/{experiment_id}.json", "attempt": 1}
    out = handler_module("record").handler(step_event("Record", event), lambda_context)
    assert (out["rejected"], out["stage"]) == (True, "smoke")
    assert lab.experiments.get_experiment(experiment_id).status == "proposed"
    assert metric_names(capsys.readouterr().out) == ["EvaluationRejected"]


def test_record_closes_a_failed_evaluation_with_its_failure(lab, lambda_context, tiny_codec_source, capsys):
    failure = {
        "stage": "decode",
        "clip": "moving_object",
        "quality": 0.4,
        "reason": "wrong shape",
        "evaluation": "train",
    }
    experiment_id = evaluated(
        lab,
        tiny_codec_source,
        {"status": "failed", "failure": failure, "cascade": None, "train": None, "validation": None},
    )
    event = {"experiment_id": experiment_id, "result_key": f"results/{experiment_id}.json", "attempt": 1}
    out = handler_module("record").handler(step_event("Record", event), lambda_context)
    assert (out["status"], out["recorded"], out["score"]) == ("failed", True, None)
    assert lab.experiments.get_experiment(experiment_id).failure == failure
    assert metric_names(capsys.readouterr().out) == ["ExperimentsRecorded", "ExperimentsFailed"]


def test_mark_failed_closes_the_experiment_with_a_readable_lambda_cause(lab, lambda_context, tiny_codec_source, capsys):
    experiment_id = proposed_experiment(lab, tiny_codec_source)
    cause = json.dumps({"errorMessage": "table is gone", "errorType": "UsageError", "stackTrace": ["..."]})
    out = handler_module("mark_failed").handler(
        step_event("MarkFailed", {"experiment_id": experiment_id, "stage": "validate", "reason": cause}), lambda_context
    )
    assert out == {"experiment_id": experiment_id, "status": "failed", "recorded": True}
    assert lab.experiments.get_experiment(experiment_id).failure["reason"] == "UsageError: table is gone"
    assert metric_names(capsys.readouterr().out) == ["ExperimentsFailed"]


def test_mark_failed_after_three_rejections_sets_rejected(lab, lambda_context, tiny_codec_source):
    experiment_id = proposed_experiment(lab, tiny_codec_source)
    event = {"experiment_id": experiment_id, "stage": "smoke", "reason": "rejected 3 times", "status": "rejected"}
    out = handler_module("mark_failed").handler(step_event("MarkFailed", event), lambda_context)
    assert out["status"] == "rejected" and lab.experiments.get_experiment(experiment_id).status == "rejected"


def test_mark_failed_without_an_experiment_records_a_campaign_event(lab, lambda_context, capsys):
    cause = json.dumps({"errorMessage": "no experiment has succeeded yet", "errorType": "EmptyArchive"})
    out = handler_module("mark_failed").handler(
        step_event("MarkFailed", {"stage": "propose", "reason": cause}, item=2), lambda_context
    )
    assert out == {"experiment_id": None, "status": "failed", "recorded": True}
    [event] = lab.experiments.recent_events(limit=5)
    assert event["kind"] == "failed"
    assert "item 2 of " in event["message"] and "EmptyArchive: no experiment has succeeded yet" in event["message"]
    assert metric_names(capsys.readouterr().out) == ["CandidatesFailed"]


def test_a_batch_job_cause_becomes_one_line():
    mark_failed = handler_module("mark_failed")
    cause = json.dumps(
        {
            "JobName": "aiv-eval-exp-1",
            "JobId": "job-1",
            "Status": "FAILED",
            "StatusReason": "Essential container in task exited",
            "Container": {"ExitCode": 1, "LogStreamName": "aiv/default/abc"},
        }
    )
    assert mark_failed.readable_cause(cause) == (
        "Batch job aiv-eval-exp-1 (job-1) FAILED: Essential container in "
        "task exited; exit code 1; log stream aiv/default/abc"
    )
    assert mark_failed.readable_cause("States.Timeout after 3600 s") == "States.Timeout after 3600 s"


class InterleavedStore:
    """The lab's store, where another record's note_best runs between this one's read of the best history and
    its write: two records of parallel candidates finishing together, at the worst moment."""

    def __init__(self, experiments, other: Experiment):
        self.experiments, self.other, self.interleaved = experiments, other, False

    def get_state(self, key: str):
        state = self.experiments.get_state(key)
        if not self.interleaved:
            self.interleaved = True
            note_best(self.experiments, self.other)
        return state

    def put_state(self, key: str, value) -> None:
        self.experiments.put_state(key, value)

    def swap_state(self, key: str, expected, value) -> bool:
        return self.experiments.swap_state(key, expected, value)


def scored(name: str, score: float) -> Experiment:
    experiment = new_experiment("run-1", "offline", [], "", None, experiment_id=name, benchmark=UNKNOWN_BENCHMARK)
    return replace(experiment, score=score, score_validation=score + 1.0, updated_at=f"2026-12-01T00:00:0{name[-1]}")


@pytest.mark.parametrize(
    "late, early, kept",
    [
        (scored("exp-1", -5.0), scored("exp-2", -3.0), ["exp-0", "exp-2", "exp-1"]),  # both beat the best: both kept
        (scored("exp-1", -3.0), scored("exp-2", -5.0), ["exp-0", "exp-2"]),  # the early one is better: the late is not
    ],
)
def test_records_finishing_together_lose_no_best_score(lab, late, early, kept):
    note_best(lab.experiments, scored("exp-0", 1.0))
    note_best(InterleavedStore(lab.experiments, early), late)
    points = lab.experiments.get_state(BEST_HISTORY_STATE)["points"]
    assert [p["experiment_id"] for p in points] == kept
    assert [p["score"] for p in points] == sorted((p["score"] for p in points), reverse=True)
