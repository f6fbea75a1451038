"""The experiment lifecycle's steps, as plain functions over JSON-serialisable events.

    propose -> validate -> evaluate -> record          any failure -> mark_failed
       ^          |            |           |
       +----------+------------+-----------+  a rejection returns to propose with the reason (bounded)

`validate` is the static gate (policy, identical code): cheap, and light enough for a Lambda
without numpy-heavy packages. `evaluate` runs where codecs can run (a local process, or the Batch
GPU job): first a smoke run on a tiny clip (a crash or a behavioural duplicate is a rejection,
not a failure), then the cascade (a few frames of one clip, then all train and validation clips).
`record` either closes the experiment or, for a smoke rejection, sends it back to propose.

Each step takes the event a Lambda or Batch job would receive and a `Lab` (the stores, the
settings, the proposers) and returns the next event. The local runner (aiv/runner.py) calls them
in the state machine's order; on AWS each is a state. Every step is safe to retry: a repeated
record or mark_failed changes nothing. Modules that need PyAV, OpenCV or the sandbox are
imported inside the steps that use them, so the Lambda steps load without them.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

from aiv.codec.builtin import BUILTIN_CODECS
from aiv.codec.contract import CodecSource, builtin_source
from aiv.codec.policy import PolicyViolation, check_policy
from aiv.importing import IMPORT_PREFIX, imported_seed
from aiv.results import best_point, failure_text, preview_quality_index
from aiv.search.archive import build_context, select_parent
from aiv.search.proposer import ProposalError, Proposer, Rejection, Usage
from aiv.settings import (CASCADE_FRAMES, MAX_PROPOSAL_ATTEMPTS, RD_DUPLICATE_KBPS_REL, RD_DUPLICATE_PSNR_DB,
                          SMOKE_FRAMES, SMOKE_SIZE, CampaignSettings)
from aiv.store.ports import ArtifactStore, ConflictError, ExperimentStore
from aiv.store.records import ACTIVE_STATUSES, FINAL_STATUSES, code_key, new_experiment
from aiv.video.clip import Clip

DUPLICATE_SCAN = 50  # how many of the best experiments a new RD signature is compared with
BEST_HISTORY = "best_history"  # state document: each new best score, in order


def load_campaign_clip(spec: str, frames: int) -> Clip:
    """A campaign clip: a built-in corpus name, or a clip file path."""
    from aiv.video.corpus import CORPUS_NAMES, builtin_clip
    from aiv.video.readers import read_clip

    if spec in CORPUS_NAMES:
        return builtin_clip(spec, frames=frames)
    return read_clip(spec, frames=frames)


@dataclass
class Lab:
    """What the steps work with: the stores, the campaign settings and a proposer factory."""

    experiments: ExperimentStore
    artifacts: ArtifactStore
    settings: CampaignSettings
    make_proposer: Callable[[str], Proposer]
    cache_dir: Path | None = None
    clip_loader: Callable[[str, int], Clip] = load_campaign_clip

    @cached_property
    def train_clips(self) -> list[Clip]:
        return [self.clip_loader(spec, self.settings.frames) for spec in self.settings.train_clips]

    @cached_property
    def validation_clips(self) -> list[Clip]:
        return [self.clip_loader(spec, self.settings.frames) for spec in self.settings.validation_clips]

    @cached_property
    def smoke_clip(self) -> Clip:
        from aiv.video.corpus import builtin_clip

        return builtin_clip("moving_object", frames=SMOKE_FRAMES).crop(*SMOKE_SIZE, name="smoke")

    def eval_settings(self, anchors: tuple[str, ...] | None = None, vmaf: bool | None = None):
        """The evaluator's settings for this campaign (an aiv.evaluate.EvalSettings)."""
        from aiv.codec.sandbox import Limits
        from aiv.evaluate import EvalSettings

        s = self.settings
        return EvalSettings(qualities=s.qualities, limits=Limits(timeout_s=s.timeout_s, memory_mb=s.memory_mb),
                            vmaf=s.vmaf if vmaf is None else vmaf, anchors=s.anchors if anchors is None else anchors,
                            anchor_crfs=s.anchor_crfs, anchor_preset=s.anchor_preset, cache_dir=self.cache_dir)


# --- seeds ---------------------------------------------------------------------------------------

def seed(event: dict, lab: Lab) -> dict:
    """{"run_id", "name"} -> {"experiment_id", "created"}: the built-in codec as an experiment, once per store.

    A name IMPORT_PREFIX + id is a researcher's codec imported before (aiv.importing): "created"
    is then whether it still waits for its evaluation.

    A seed is created again only when every earlier one ended failed or rejected (say an
    infrastructure error), so a transient failure does not leave the archive without seeds. The
    id is derived from the code and the attempt number, so two runs seeding one empty store at
    once create it once.
    """
    if event["name"].startswith(IMPORT_PREFIX):
        return imported_seed(event, lab)
    source = builtin_source(event["name"])
    existing = lab.experiments.find_by_code(source.sha256)
    standing = [e for e in existing if e["status"] not in ("failed", "rejected")]
    if standing:
        return {"run_id": event["run_id"], "experiment_id": standing[0]["id"], "created": False}
    lab.artifacts.put(code_key(source.sha256), source.source.encode(), "text/x-python")
    experiment_id = f"exp-seed-{event['name']}-{source.sha256[:12]}-{len(existing) + 1}"
    record = new_experiment(event["run_id"], "builtin", [], f"built-in reference codec '{event['name']}'",
                            source.sha256, experiment_id=experiment_id)
    created = lab.experiments.create_experiment(record)
    if created:
        lab.experiments.add_event(record["id"], "seed", f"built-in codec {event['name']} entered the archive")
    return {"run_id": event["run_id"], "experiment_id": record["id"], "created": created}


def seed_names() -> tuple[str, ...]:
    """The built-in codecs every archive starts from."""
    return BUILTIN_CODECS


# --- propose -------------------------------------------------------------------------------------

def propose(event: dict, lab: Lab) -> dict:
    """Ask a proposer for a candidate module.

    In: {"run_id", "proposer", "seed", "experiment_id"?, "feedback"?: {"stage", "reason"}, "rerun_of"?}; the
    experiment id and feedback are set when a previous attempt of this candidate was rejected.
    With "rerun_of" the candidate is that experiment's code, unchanged (see propose_rerun).
    Out: {"run_id", "experiment_id", "proposer", "seed", "attempt", "proposed", "stage"?, "reason"?}.
    """
    if event.get("rerun_of"):
        return propose_rerun(event, lab)
    experiments = lab.experiments
    experiment, mode = None, "retry"
    if event.get("experiment_id"):
        experiment = experiments.get_experiment(event["experiment_id"])
        parent = experiments.get_experiment(experiment["parents"][0])
    else:
        selection = select_parent(experiments, random.Random(event["seed"]))
        parent, mode = selection.parent, selection.mode
    attempt = len(experiment["attempts"]) + 1 if experiment else 1
    feedback = event.get("feedback")
    retry = Rejection(experiment["id"], feedback["stage"], feedback["reason"]) if experiment and feedback else None
    context = build_context(experiments, lab.artifacts, parent, event["seed"] * 100 + attempt, retry)
    # The proposer runs before a new experiment exists: if it crashes (not a ProposalError), no
    # experiment is left open that the failure handler could not name.
    try:
        proposal, error = lab.make_proposer(event["proposer"]).propose(context), None
    except ProposalError as rejection:
        proposal, error = None, rejection
    if experiment is None:
        parents = (proposal.parents if proposal is not None and proposal.parents else None) or [parent["id"]]
        experiment = new_experiment(event["run_id"], event["proposer"], parents, "", None)
        experiments.create_experiment(experiment)
        shown = "" if parents == [parent["id"]] else f"; it was shown {parent['id']}"
        experiments.add_event(experiment["id"], "propose",
                              f"improving {', '.join(parents)} ({mode}) with the {event['proposer']} proposer{shown}")
    out = {"run_id": event["run_id"], "experiment_id": experiment["id"], "proposer": event["proposer"],
           "seed": event["seed"], "attempt": attempt}
    if error is not None:
        _add_usage(experiments, experiment["id"], error.usage)
        _reject(lab, experiment["id"], attempt, "propose", error.reason)
        return out | {"proposed": False, "stage": "propose", "reason": error.reason}
    source = CodecSource(experiment["id"], proposal.code, "proposal")
    lab.artifacts.put(code_key(source.sha256), proposal.code.encode(), "text/x-python")
    experiments.update_experiment(experiment["id"], {
        "code_sha256": source.sha256, "code_key": code_key(source.sha256), "hypothesis": proposal.hypothesis,
        "model": proposal.model, "parents": proposal.parents or experiment["parents"], "stage": "propose"})
    _add_usage(experiments, experiment["id"], proposal.usage)
    experiments.add_event(experiment["id"], "propose", f"attempt {attempt}: {proposal.hypothesis[:200]}")
    return out | {"proposed": True}


def propose_rerun(event: dict, lab: Lab) -> dict:
    """A new experiment with the exact code of experiment `rerun_of`, to measure it again (new clips,
    settings or lab version). It is exempt from the duplicate checks, not from the policy, and is
    never re-proposed: a rejected rerun stays rejected."""
    out = {"run_id": event["run_id"], "proposer": "rerun", "seed": event["seed"]}
    if event.get("experiment_id"):
        feedback = event.get("feedback") or {}
        return out | {"experiment_id": event["experiment_id"], "attempt": MAX_PROPOSAL_ATTEMPTS, "proposed": False,
                      "stage": feedback.get("stage", "rerun"),
                      "reason": f"a rerun is not re-proposed; it was rejected: {feedback.get('reason', '')}"}
    original = lab.experiments.get_experiment(event["rerun_of"])
    if original is None or not original.get("code_sha256"):
        raise ValueError(f"cannot rerun {event['rerun_of']}: no such experiment with code in this store")
    experiment = new_experiment(event["run_id"], "rerun", [original["id"]], f"re-evaluation of {original['id']}",
                                original["code_sha256"], model=original.get("model"))
    lab.experiments.create_experiment(experiment)
    lab.experiments.add_event(experiment["id"], "propose", f"rerun of {original['id']}")
    return out | {"experiment_id": experiment["id"], "attempt": 1, "proposed": True}


def _add_usage(experiments: ExperimentStore, experiment_id: str, usage: Usage) -> None:
    cost = dict(experiments.get_experiment(experiment_id)["cost"])
    cost["input_tokens"] += usage.input_tokens
    cost["output_tokens"] += usage.output_tokens
    cost["llm_usd"] = round(cost["llm_usd"] + (usage.usd or 0.0), 6)
    experiments.update_experiment(experiment_id, {"cost": cost})


def _reject(lab: Lab, experiment_id: str, attempt: int, stage: str, reason: str) -> None:
    experiment = lab.experiments.get_experiment(experiment_id)
    attempts = experiment["attempts"] + [{"attempt": attempt, "stage": stage, "reason": reason,
                                          "code_sha256": experiment["code_sha256"]}]
    lab.experiments.update_experiment(experiment_id, {"attempts": attempts, "status": "proposed", "stage": stage})
    lab.experiments.add_event(experiment_id, "rejected", f"attempt {attempt} rejected at {stage}: {reason[:500]}")


# --- validate ------------------------------------------------------------------------------------

def validate(event: dict, lab: Lab) -> dict:
    """The static gate: the policy, and code identical to an archived experiment's.

    In: propose's output. Out: the same plus {"valid", "stage"?, "reason"?}.
    """
    experiment = lab.experiments.update_experiment(event["experiment_id"], {"status": "validating", "stage": "validate"},
                                                   expect_status=("proposed",))
    problem = _static_problem(experiment, lab)
    if problem is None:
        lab.experiments.add_event(experiment["id"], "validate", "passed the policy and duplicate-code checks")
        return event | {"valid": True}
    stage, reason = problem
    _reject(lab, experiment["id"], event.get("attempt", len(experiment["attempts"]) + 1), stage, reason)
    return event | {"valid": False, "stage": stage, "reason": reason}


def _static_problem(experiment: dict, lab: Lab) -> tuple[str, str] | None:
    try:
        check_policy(lab.artifacts.get(experiment["code_key"]).decode())
    except PolicyViolation as violation:
        return "policy", str(violation)
    twins = [e for e in lab.experiments.find_by_code(experiment["code_sha256"]) if e["id"] != experiment["id"]]
    if twins and experiment["proposer"] != "rerun":
        return "duplicate", f"the module is identical to the code of {twins[0]['id']} (status {twins[0]['status']})"
    return None


def _smoke_problem(experiment: dict, codec: CodecSource, lab: Lab) -> tuple[str, str] | None:
    """Run the codec on a tiny clip in the sandbox; a crash or a behavioural duplicate is a rejection."""
    from aiv.evaluate import evaluate as evaluate_codec

    smoke = evaluate_codec(codec, [lab.smoke_clip], lab.eval_settings(anchors=(), vmaf=False), show_progress=False)
    _add_compute(lab.experiments, experiment["id"], smoke)
    if smoke["status"] != "ok":
        failure = smoke["failure"]
        return "smoke", (f"{failure['stage']} failed on the {lab.smoke_clip.width}x{lab.smoke_clip.height} smoke "
                         f"clip at quality {failure['quality']}: {failure['reason']}")
    signature = [[p["kbps"], p["psnr_y"]] for p in smoke["clips"][0]["points"]]
    lab.experiments.update_experiment(experiment["id"], {"rd_signature": signature})
    if experiment["proposer"] == "rerun":
        return None
    for other in lab.experiments.best_experiments(limit=DUPLICATE_SCAN, split="train"):
        if other["id"] != experiment["id"] and same_behaviour(signature, other.get("rd_signature")):
            return "duplicate", (f"the module behaves like {other['id']}: its rate and PSNR-Y on the smoke clip "
                                 f"are within noise at every quality point; change what it does, not only how")
    return None


def same_behaviour(signature: list, other: list | None) -> bool:
    """Whether two smoke RD signatures are equal within noise at every point."""
    if not other or len(other) != len(signature):
        return False
    return all(abs(a[0] - b[0]) <= RD_DUPLICATE_KBPS_REL * max(a[0], b[0]) and abs(a[1] - b[1]) <= RD_DUPLICATE_PSNR_DB
               for a, b in zip(signature, other))


def _add_compute(experiments: ExperimentStore, experiment_id: str, *records: dict | None) -> None:
    seconds = sum(p["encode_s"] + p["decode_s"] for r in records if r for c in r["clips"] for p in c["points"])
    cost = dict(experiments.get_experiment(experiment_id)["cost"])
    cost["compute_s"] = round(cost["compute_s"] + seconds, 3)
    experiments.update_experiment(experiment_id, {"cost": cost})


# --- evaluate ------------------------------------------------------------------------------------

def evaluate(event: dict, lab: Lab) -> dict:
    """The smoke run, then the cascade: a few frames of the first train clip, then every clip.

    In: {"experiment_id", ...}. Out: the same plus {"status": "ok"|"failed"|"rejected", "result_key"};
    the record is the artifact `results/<id>.json` with "cascade", "train" and "validation"
    evaluation records, or, for a rejection, {"status": "rejected", "stage", "reason"}.
    """
    from aiv.evaluate import evaluate as evaluate_codec

    experiment = lab.experiments.update_experiment(event["experiment_id"], {"status": "evaluating", "stage": "evaluate"},
                                                   expect_status=("validating",))
    codec = CodecSource(experiment["id"], lab.artifacts.get(experiment["code_key"]).decode(), "archive")  # <id>.py
    key = f"results/{experiment['id']}.json"
    result = {"experiment_id": experiment["id"], "status": "failed", "failure": None,
              "cascade": None, "train": None, "validation": None}
    problem = _smoke_problem(experiment, codec, lab)
    if problem is not None:
        result = {"experiment_id": experiment["id"], "status": "rejected", "stage": problem[0], "reason": problem[1]}
        lab.artifacts.put(key, json.dumps(result).encode(), "application/json")
        return event | {"status": "rejected", "result_key": key}
    settings = lab.eval_settings()
    lab.experiments.add_event(experiment["id"], "evaluate", f"smoke run passed; cascade: first {CASCADE_FRAMES} "
                                                            f"frames of {lab.settings.train_clips[0]}")
    stages = (("cascade", lambda: [lab.train_clips[0].head(CASCADE_FRAMES)]),
              ("train", lambda: lab.train_clips), ("validation", lambda: lab.validation_clips))
    for name, clips in stages:
        previews = PreviewMaker(lab, experiment["id"], settings.qualities) if name != "cascade" else None
        record = evaluate_codec(codec, clips(), settings, show_progress=False,
                                on_decoded=previews.on_decoded if previews else None)
        if previews:
            previews.annotate(record)
        result[name] = record
        if record["status"] != "ok":
            result["failure"] = dict(record["failure"], evaluation=name)
            break
        lab.experiments.add_event(experiment["id"], "evaluate", f"{name} measured: headline "
                                                                f"{_fmt(record['summary']['bd_rate_x264_psnr_y'])}")
    else:
        result["status"] = "ok"
        result["vs_parent"] = _against_parent(lab, experiment, result)
    _add_compute(lab.experiments, experiment["id"], result["cascade"], result["train"], result["validation"])
    lab.artifacts.put(key, json.dumps(result).encode(), "application/json")
    return event | {"status": result["status"], "result_key": key}


def _against_parent(lab: Lab, experiment: dict, result: dict) -> dict | None:
    """The BD-rate of this evaluation against the first parent's, on the splits both finished (None without a
    parent, or when the parent's evaluation is not in the store)."""
    from aiv.comparison import against_parent

    parent = lab.experiments.get_experiment(experiment["parents"][0]) if experiment["parents"] else None
    if parent is None or not parent.get("result_key"):
        return None
    return against_parent(parent["id"], json.loads(lab.artifacts.get(parent["result_key"])), result)


class PreviewMaker:
    """Stores a browser-playable preview of the decoded frames of each clip at one quality point,
    and of each source clip once, and notes their keys in the evaluation record."""

    def __init__(self, lab: Lab, experiment_id: str, qualities: tuple[float, ...]):
        self.lab, self.experiment_id = lab, experiment_id
        self.quality = qualities[preview_quality_index(qualities)]
        self.entries: dict[str, dict] = {}

    def on_decoded(self, clip: Clip, point: dict, planes: tuple) -> None:
        from aiv.web.previews import make_preview_mp4, preview_entry

        if point["quality"] != self.quality:
            return
        entry = preview_entry(self.experiment_id, clip, self.quality)
        self.lab.artifacts.put(entry["recon_key"], make_preview_mp4(*planes, clip.fps), "video/mp4")
        if not self.lab.artifacts.exists(entry["source_key"]):
            self.lab.artifacts.put(entry["source_key"], make_preview_mp4(clip.y, clip.u, clip.v, clip.fps), "video/mp4")
        self.entries[clip.name] = entry

    def annotate(self, record: dict) -> None:
        for clip_record in record["clips"]:
            if clip_record["name"] in self.entries:
                clip_record["preview"] = self.entries[clip_record["name"]]


def _fmt(value: float | None) -> str:
    return "not comparable" if value is None else f"{value:+.2f}% BD-rate vs x264"


# --- record and mark_failed ----------------------------------------------------------------------

def record(event: dict, lab: Lab) -> dict:
    """Store the evaluation's outcome in the experiment. Idempotent: a final experiment is left as it is.

    In: evaluate's output. Out: {"experiment_id", "status", "score", "recorded"}; for a smoke
    rejection instead evaluate's output plus {"rejected": True, "stage", "reason"}, and the
    experiment goes back to "proposed" for the next attempt.
    """
    result = json.loads(lab.artifacts.get(event["result_key"]))
    if result["status"] == "rejected":
        experiment = lab.experiments.get_experiment(event["experiment_id"])
        if experiment["status"] == "evaluating":
            _reject(lab, experiment["id"], event.get("attempt", len(experiment["attempts"]) + 1), result["stage"],
                    result["reason"])
        return event | {"rejected": True, "stage": result["stage"], "reason": result["reason"]}
    train, validation = result.get("train") or {}, result.get("validation") or {}
    fields = {"status": "succeeded" if result["status"] == "ok" else "failed", "stage": "record",
              "result_key": event["result_key"], "failure": result["failure"],
              "summary": {"train": train.get("summary"), "validation": validation.get("summary")},
              "score": (train.get("summary") or {}).get("bd_rate_x264_psnr_y") if result["status"] == "ok" else None,
              "score_validation": ((validation.get("summary") or {}).get("bd_rate_x264_psnr_y")
                                   if result["status"] == "ok" else None),
              "clip_scores": {c["name"]: c["bd_rate"].get("x264", {}).get("psnr_y", {}).get("value")
                              for c in train.get("clips", [])},
              "best_point": best_point(train) if result["status"] == "ok" else None,
              "settings": lab.settings.as_record()}
    try:
        updated = lab.experiments.update_experiment(event["experiment_id"], fields, expect_status=ACTIVE_STATUSES)
    except ConflictError:
        current = lab.experiments.get_experiment(event["experiment_id"])
        return {"experiment_id": current["id"], "status": current["status"], "score": current["score"],
                "recorded": False, "rejected": False}
    message = (f"succeeded: {_fmt(updated['score'])} (validation {_fmt(updated['score_validation'])})"
               if updated["status"] == "succeeded" else f"failed: {failure_text(result['failure'])}")
    lab.experiments.add_event(updated["id"], "record", message)
    if updated["score"] is not None:
        note_best(lab.experiments, updated)
    return {"experiment_id": updated["id"], "status": updated["status"], "score": updated["score"], "recorded": True,
            "rejected": False}


def note_best(experiments: ExperimentStore, experiment: dict) -> None:
    """Append to the state document "best_history" when `experiment` beats the best score so far.

    The history ({"points": [{"at", "experiment_id", "score", "score_validation"}]}) is what the
    dashboard charts as the best score over time, without reading every experiment.
    """
    history = experiments.get_state(BEST_HISTORY) or {"points": []}
    points = history["points"]
    if points and points[-1]["score"] <= experiment["score"]:
        return
    points.append({"at": experiment["updated_at"], "experiment_id": experiment["id"], "score": experiment["score"],
                   "score_validation": experiment["score_validation"]})
    experiments.put_state(BEST_HISTORY, {"points": points})


def mark_failed(event: dict, lab: Lab) -> dict:
    """Close an experiment that cannot go on: {"experiment_id", "stage", "reason", "status"?: "failed"|"rejected"}.

    Idempotent: an experiment already final keeps its status.
    """
    status = event.get("status", "failed")
    if status not in FINAL_STATUSES or status == "succeeded":
        raise ValueError(f"mark_failed sets failed or rejected, not {status!r}")
    failure = {"stage": event["stage"], "reason": event["reason"], "clip": None, "quality": None}
    try:
        updated = lab.experiments.update_experiment(event["experiment_id"], {"status": status, "failure": failure,
                                                                             "stage": event["stage"]},
                                                    expect_status=ACTIVE_STATUSES)
    except ConflictError:
        current = lab.experiments.get_experiment(event["experiment_id"])
        return {"experiment_id": current["id"], "status": current["status"], "recorded": False}
    lab.experiments.add_event(updated["id"], status, f"{event['stage']}: {event['reason'][:500]}")
    return {"experiment_id": updated["id"], "status": status, "recorded": True}
