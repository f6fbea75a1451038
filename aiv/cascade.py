"""The evaluate step: a smoke run on a tiny clip, then the cascade over the campaign's clips.

It runs where codecs can run (a local process, or the Batch GPU job). A crash on the smoke clip is
a rejection, not a failure; then a few frames of the first train clip (the cascade stage), every
train clip, and the validation clips are measured in turn, stopping at the first failure. After
the cascade stage two rejections spend no more evaluations on a candidate: bitstreams identical
to an archived program's there (a duplicate, aiv/pipeline/duplicates.py), and a BD-rate against
its parent on those frames above EARLY_STOP_BD_RATE (stopped early, aiv/search/early_stop.py;
the record keeps how many encode/decode points that saved). The outcome is the artifact
`results/<id>.json`.
"""

from __future__ import annotations

import json

from aiv.codec.contract import CodecSource
from aiv.codec.fingerprint import bitstreams_sha256
from aiv.comparison import against_parent
from aiv.evaluate import HARNESS_STAGE
from aiv.evaluate import evaluate as evaluate_codec
from aiv.names import cascade_bitstreams_key, result_key
from aiv.pipeline.costs import add_compute
from aiv.pipeline.duplicates import EXEMPT_PROPOSERS, earlier_owner
from aiv.pipeline.lab import Lab
from aiv.pipeline.recording import format_score
from aiv.search.early_stop import early_stop
from aiv.settings import CASCADE_FRAMES, EARLY_STOP_BD_RATE
from aiv.store.records import Experiment
from aiv.video.previews import PreviewMaker


def evaluate(event: dict, lab: Lab) -> dict:
    """The smoke run, then the cascade: a few frames of the first train clip, then every clip.

    In: {"experiment_id", ...}. Out: the same plus {"status": "ok"|"failed"|"rejected", "result_key"};
    the record is the artifact `results/<id>.json` with "cascade", "train" and "validation"
    evaluation records, or, for a rejection, {"status": "rejected", "stage", "reason"} (and, after
    the cascade stage, its "cascade" record and "saved_points", the encode/decode points not run).
    """
    experiment = lab.experiments.update_experiment(
        event["experiment_id"], {"status": "evaluating", "stage": "evaluate"}, expect_status=("validating",)
    )
    if experiment.code_key is None:
        raise ValueError(f"experiment {experiment.id} has no code to evaluate")
    # origin "archive": tracebacks name the module <id>.py, the name `aiv export` gives it
    codec = CodecSource(experiment.id, lab.artifacts.get(experiment.code_key).decode(), "archive")
    key = result_key(experiment.id)
    result: dict = {
        "experiment_id": experiment.id,
        "status": "failed",
        "failure": None,
        "benchmark": {"id": lab.benchmark.id, "definition": lab.benchmark.definition},
        "cascade": None,
        "train": None,
        "validation": None,
    }
    problem = run_smoke(experiment, codec, lab)
    if problem is not None and problem[0] == HARNESS_STAGE:  # the lab's fault: the candidate fails, unrejected
        result["failure"] = {
            "stage": HARNESS_STAGE,
            "clip": None,
            "quality": None,
            "reason": problem[1],
            "evaluation": "smoke",
        }
        lab.artifacts.put(key, json.dumps(result).encode(), "application/json")
        return event | {"status": "failed", "result_key": key}
    if problem is not None:
        result = {"experiment_id": experiment.id, "status": "rejected", "stage": problem[0], "reason": problem[1]}
        lab.artifacts.put(key, json.dumps(result).encode(), "application/json")
        return event | {"status": "rejected", "result_key": key}
    settings = lab.eval_settings()
    lab.experiments.add_event(
        experiment.id,
        "evaluate",
        f"smoke run passed; cascade: first {CASCADE_FRAMES} frames of {lab.settings.train_clips[0]}",
    )
    stages = (
        ("cascade", lambda: [lab.train_clips[0].head(CASCADE_FRAMES)]),
        ("train", lambda: lab.train_clips),
        ("validation", lambda: lab.validation_clips),
    )
    for name, clips in stages:
        previews = PreviewMaker(lab.artifacts, experiment.id, settings.qualities) if name != "cascade" else None
        record = evaluate_codec(
            codec, clips(), settings, show_progress=False, on_decoded=previews.on_decoded if previews else None
        )
        if previews:
            previews.annotate(record)
        result[name] = record
        if record["status"] != "ok":
            result["failure"] = dict(record["failure"], evaluation=name)
            break
        lab.experiments.add_event(
            experiment.id,
            "evaluate",
            f"{name} measured: headline {format_score(record['summary']['bd_rate_x264_psnr_y'])}",
        )
        stopped = after_cascade(experiment, record, lab) if name == "cascade" else None
        if stopped is not None:
            add_compute(lab.experiments, experiment.id, record)
            saved = len(settings.qualities) * (len(lab.settings.train_clips) + len(lab.settings.validation_clips))
            lab.experiments.add_event(
                experiment.id, "evaluate", f"{stopped[1][:300]}; {saved} encode/decode points not run"
            )
            result = {
                "experiment_id": experiment.id,
                "status": "rejected",
                "stage": stopped[0],
                "reason": stopped[1],
                "cascade": record,
                "saved_points": saved,
            }
            lab.artifacts.put(key, json.dumps(result).encode(), "application/json")
            return event | {"status": "rejected", "result_key": key}
    else:
        result["status"] = "ok"
        result["vs_parent"] = _against_parent(lab, experiment, result)
    add_compute(lab.experiments, experiment.id, result["cascade"], result["train"], result["validation"])
    lab.artifacts.put(key, json.dumps(result).encode(), "application/json")
    return event | {"status": result["status"], "result_key": key}


def after_cascade(experiment: Experiment, cascade: dict, lab: Lab) -> tuple[str, str] | None:
    """(stage, reason) when the cascade stage shows the candidate is a duplicate or clearly worse than
    its parent, else None."""
    fingerprint = bitstreams_sha256(cascade)
    owner = (
        earlier_owner(lab.artifacts, cascade_bitstreams_key(experiment.benchmark, fingerprint), experiment)
        if fingerprint
        else None
    )
    if owner is not None:
        return "duplicate", (
            f"its bitstreams on the cascade stage are identical to those of {owner}: the change "
            "does not change what the codec writes"
        )
    if experiment.proposer in EXEMPT_PROPOSERS or not experiment.parents:
        return None
    parent_id = experiment.parents[0]
    parent = lab.experiments.get_experiment(parent_id)
    if parent is None or not parent.result_key or not lab.artifacts.exists(parent.result_key):
        return None
    parent_cascade = json.loads(lab.artifacts.get(parent.result_key)).get("cascade")
    stop = early_stop(cascade, parent_cascade, parent_id, EARLY_STOP_BD_RATE)
    return ("cascade", stop.reason) if stop is not None else None


def _against_parent(lab: Lab, experiment: Experiment, result: dict) -> dict | None:
    """The BD-rate of this evaluation against the first parent's, on the splits both finished (None without a
    parent, or when the parent's evaluation is not in the store)."""
    parent = lab.experiments.get_experiment(experiment.parents[0]) if experiment.parents else None
    if parent is None or not parent.result_key:
        return None
    return against_parent(parent.id, json.loads(lab.artifacts.get(parent.result_key)), result)


def run_smoke(experiment: Experiment, codec: CodecSource, lab: Lab) -> tuple[str, str] | None:
    """Run the codec on a tiny clip in the sandbox and add its seconds to the experiment's cost;
    (stage, reason) when it crashed there, else None."""
    smoke = evaluate_codec(codec, [lab.smoke_clip], lab.eval_settings(anchors=(), vmaf=False), show_progress=False)
    add_compute(lab.experiments, experiment.id, smoke)
    if smoke["status"] != "ok":
        failure = smoke["failure"]
        if failure["stage"] == HARNESS_STAGE:
            return HARNESS_STAGE, f"the smoke run's measurement failed: {failure['reason']}"
        return "smoke", (
            f"{failure['stage']} failed on the {lab.smoke_clip.width}x{lab.smoke_clip.height} smoke "
            f"clip at quality {failure['quality']}: {failure['reason']}"
        )
    return None
