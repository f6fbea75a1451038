"""The record and mark_failed steps, a rejection's bookkeeping, and the best-score history."""

from __future__ import annotations

import json

from aiv.candidate_loop import rejection
from aiv.benchmark import Benchmark, current_benchmark, use_benchmark
from aiv.names import best_history_key
from aiv.pipeline.events import MarkFailedEvent, RecordEvent
from aiv.pipeline.lab import Lab
from aiv.results import failure_text, mean_preview_point
from aiv.store.ports import ConflictError, ExperimentStore, require_experiment
from aiv.store.records import ACTIVE_STATUSES, FINAL_STATUSES, Experiment, Summaries


def measured_fields(result: dict, result_key: str) -> dict:
    """The experiment fields an evaluation record `result` (stored at `result_key`) decides: the final
    status, the failure, the summaries, the headline scores (None unless it succeeded) and the per-clip
    train scores."""
    ok = result["status"] == "ok"
    summaries = Summaries.from_result(result)
    return {
        "status": "succeeded" if ok else "failed",
        "stage": "record",
        "result_key": result_key,
        "failure": result["failure"],
        "summary": summaries,
        "score": summaries.train.bd_rate_x264_psnr_y if ok and summaries.train else None,
        "score_validation": summaries.validation.bd_rate_x264_psnr_y if ok and summaries.validation else None,
        "clip_scores": {
            c["name"]: c["bd_rate"].get("x264", {}).get("psnr_y", {}).get("value")
            for c in (result.get("train") or {}).get("clips", [])
        },
    }


def reject(
    lab: Lab, experiment_id: str, attempt: int, stage: str, reason: str, made_module: bool = True, **extra: object
) -> None:
    """Note a rejected attempt on the experiment (its module and hypothesis, unless the attempt made no
    module; `extra` fields such as "saved_points") and set it back to "proposed"."""
    experiment = require_experiment(lab.experiments, experiment_id)
    attempts = experiment.attempts + [
        {
            "attempt": attempt,
            "stage": stage,
            "reason": reason,
            "code_sha256": experiment.code_sha256 if made_module else None,
            "hypothesis": experiment.hypothesis if made_module else "",
            **extra,
        }
    ]
    lab.experiments.update_experiment(experiment_id, {"attempts": attempts, "status": "proposed", "stage": stage})
    lab.experiments.add_event(experiment_id, "rejected", f"attempt {attempt} rejected at {stage}: {reason[:500]}")


def format_score(value: float | None) -> str:
    """A headline score as the events word it."""
    return "not comparable" if value is None else f"{value:+.2f}% BD-rate vs x264"


def record(event: RecordEvent, lab: Lab) -> dict:
    """Store the evaluation's outcome in the experiment. Idempotent: a final experiment is left as it is.

    In: evaluate's output. Out: {"experiment_id", "status", "score", "recorded", "rejected"}; for a
    smoke rejection instead evaluate's output plus {"rejected": True} and a rejection's fields, and
    the experiment goes back to "proposed" for the next attempt.
    """
    result = json.loads(lab.artifacts.get(event["result_key"]))
    if result["status"] == "rejected":
        experiment = require_experiment(lab.experiments, event["experiment_id"])
        if experiment.status == "evaluating":
            saved = {"saved_points": result["saved_points"]} if "saved_points" in result else {}
            reject(
                lab,
                experiment.id,
                event.get("attempt", len(experiment.attempts) + 1),
                result["stage"],
                result["reason"],
                **saved,
            )
        return dict(event) | {"rejected": True, **rejection(result["stage"], result["reason"], experiment.proposer)}
    ok = result["status"] == "ok"
    fields = {
        **measured_fields(result, event["result_key"]),
        "best_point": mean_preview_point(result.get("train") or {}) if ok else None,
        "settings": lab.settings.as_record(),
    }
    if result.get("benchmark"):  # what the evaluation measured on (aiv/cascade.py)
        fields["benchmark"] = result["benchmark"]["id"]
        note_benchmark(lab.experiments, Benchmark(**result["benchmark"]))
    try:
        updated = lab.experiments.update_experiment(event["experiment_id"], fields, expect_status=ACTIVE_STATUSES)
    except ConflictError:
        current = require_experiment(lab.experiments, event["experiment_id"])
        return {
            "experiment_id": current.id,
            "status": current.status,
            "score": current.score,
            "recorded": False,
            "rejected": False,
        }
    message = (
        f"succeeded: {format_score(updated.score)} (validation {format_score(updated.score_validation)})"
        if updated.status == "succeeded"
        else f"failed: {failure_text(result['failure'])}"
    )
    lab.experiments.add_event(updated.id, "record", message)
    if updated.score is not None:
        note_best(lab.experiments, updated)
    return {
        "experiment_id": updated.id,
        "status": updated.status,
        "score": updated.score,
        "recorded": True,
        "rejected": False,
    }


def note_benchmark(experiments: ExperimentStore, benchmark: Benchmark) -> None:
    """Make the benchmark of a recorded evaluation the store's current one, unless it is already."""
    if current_benchmark(experiments) != benchmark.id:
        use_benchmark(experiments, benchmark)


BEST_HISTORY_SWAPS = 20  # records finishing at once each retry their swap; this many lost swaps is no race


def note_best(experiments: ExperimentStore, experiment: Experiment) -> None:
    """Append to its benchmark's best-history state document when `experiment` beats that benchmark's best so far.

    The history ({"points": [{"at", "experiment_id", "score", "score_validation"}]}) is what the
    dashboard charts as the best score over time, without reading every experiment. Records of
    parallel candidates may finish together: the append is a compare-and-swap (swap_state), read
    again and decided again whenever another record changed the history first, so no point is lost.
    ConflictError after BEST_HISTORY_SWAPS lost swaps.
    """
    if experiment.score is None:
        raise ValueError(f"experiment {experiment.id} has no score to note in the best-score history")
    key = best_history_key(experiment.benchmark)
    for _ in range(BEST_HISTORY_SWAPS):
        history = experiments.get_state(key)
        points = [] if history is None else history["points"]
        if points and points[-1]["score"] <= experiment.score:
            return
        point = {
            "at": experiment.updated_at,
            "experiment_id": experiment.id,
            "score": experiment.score,
            "score_validation": experiment.score_validation,
        }
        if experiments.swap_state(key, history, {"points": [*points, point]}):
            return
    raise ConflictError(f"the best-score history changed under {BEST_HISTORY_SWAPS} attempts to add {experiment.id}")


def mark_failed(event: MarkFailedEvent, lab: Lab) -> dict:
    """Close an experiment that cannot go on, as "failed" (the default) or "rejected".

    Idempotent: an experiment already final keeps its status.
    """
    status = event.get("status", "failed")
    if status not in FINAL_STATUSES or status == "succeeded":
        raise ValueError(f"mark_failed sets failed or rejected, not {status!r}")
    failure = {"stage": event["stage"], "reason": event["reason"], "clip": None, "quality": None}
    try:
        updated = lab.experiments.update_experiment(
            event["experiment_id"],
            {"status": status, "failure": failure, "stage": event["stage"]},
            expect_status=ACTIVE_STATUSES,
        )
    except ConflictError:
        current = require_experiment(lab.experiments, event["experiment_id"])
        return {"experiment_id": current.id, "status": current.status, "recorded": False}
    lab.experiments.add_event(updated.id, status, f"{event['stage']}: {event['reason'][:500]}")
    return {"experiment_id": updated.id, "status": status, "recorded": True}
