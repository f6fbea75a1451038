"""The evaluate step: a smoke run on a tiny clip, then the cascade over the campaign's clips.

It runs where codecs can run (a local process, or the Batch GPU job). A crash on the smoke clip
or a behavioural duplicate of an archived program is a rejection, not a failure; then a few
frames of the first train clip, every train clip, and the validation clips are measured in turn,
stopping at the first failure. The outcome is the artifact `results/<id>.json`.
"""

from __future__ import annotations

import json

from aiv.codec.contract import CodecSource
from aiv.comparison import against_parent
from aiv.evaluate import HARNESS_STAGE
from aiv.evaluate import evaluate as evaluate_codec
from aiv.names import result_key
from aiv.pipeline.costs import add_compute
from aiv.pipeline.lab import Lab
from aiv.pipeline.recording import format_score
from aiv.settings import CASCADE_FRAMES, RD_DUPLICATE_KBPS_REL, RD_DUPLICATE_PSNR_DB
from aiv.video.previews import PreviewMaker

DUPLICATE_SCAN = 50  # how many of the best experiments a new RD signature is compared with


def evaluate(event: dict, lab: Lab) -> dict:
    """The smoke run, then the cascade: a few frames of the first train clip, then every clip.

    In: {"experiment_id", ...}. Out: the same plus {"status": "ok"|"failed"|"rejected", "result_key"};
    the record is the artifact `results/<id>.json` with "cascade", "train" and "validation"
    evaluation records, or, for a rejection, {"status": "rejected", "stage", "reason"}.
    """
    experiment = lab.experiments.update_experiment(event["experiment_id"], {"status": "evaluating", "stage": "evaluate"},
                                                   expect_status=("validating",))
    # origin "archive": tracebacks name the module <id>.py, the name `aiv export` gives it
    codec = CodecSource(experiment["id"], lab.artifacts.get(experiment["code_key"]).decode(), "archive")
    key = result_key(experiment["id"])
    result: dict = {"experiment_id": experiment["id"], "status": "failed", "failure": None,
                    "benchmark": {"id": lab.benchmark.id, "definition": lab.benchmark.definition},
                    "cascade": None, "train": None, "validation": None}
    problem = run_smoke(experiment, codec, lab)
    if problem is not None and problem[0] == HARNESS_STAGE:  # the lab's fault: the candidate fails, unrejected
        result["failure"] = {"stage": HARNESS_STAGE, "clip": None, "quality": None, "reason": problem[1],
                             "evaluation": "smoke"}
        lab.artifacts.put(key, json.dumps(result).encode(), "application/json")
        return event | {"status": "failed", "result_key": key}
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
        previews = PreviewMaker(lab.artifacts, experiment["id"], settings.qualities) if name != "cascade" else None
        record = evaluate_codec(codec, clips(), settings, show_progress=False,
                                on_decoded=previews.on_decoded if previews else None)
        if previews:
            previews.annotate(record)
        result[name] = record
        if record["status"] != "ok":
            result["failure"] = dict(record["failure"], evaluation=name)
            break
        lab.experiments.add_event(experiment["id"], "evaluate", f"{name} measured: headline "
                                                                f"{format_score(record['summary']['bd_rate_x264_psnr_y'])}")
    else:
        result["status"] = "ok"
        result["vs_parent"] = _against_parent(lab, experiment, result)
    add_compute(lab.experiments, experiment["id"], result["cascade"], result["train"], result["validation"])
    lab.artifacts.put(key, json.dumps(result).encode(), "application/json")
    return event | {"status": result["status"], "result_key": key}


def _against_parent(lab: Lab, experiment: dict, result: dict) -> dict | None:
    """The BD-rate of this evaluation against the first parent's, on the splits both finished (None without a
    parent, or when the parent's evaluation is not in the store)."""
    parent = lab.experiments.get_experiment(experiment["parents"][0]) if experiment["parents"] else None
    if parent is None or not parent.get("result_key"):
        return None
    return against_parent(parent["id"], json.loads(lab.artifacts.get(parent["result_key"])), result)


def run_smoke(experiment: dict, codec: CodecSource, lab: Lab) -> tuple[str, str] | None:
    """Run the codec on a tiny clip in the sandbox, add its seconds to the experiment's cost and store
    its RD signature on it; (stage, reason) when it crashed or behaves like an archived program, else None."""
    smoke = evaluate_codec(codec, [lab.smoke_clip], lab.eval_settings(anchors=(), vmaf=False), show_progress=False)
    add_compute(lab.experiments, experiment["id"], smoke)
    if smoke["status"] != "ok":
        failure = smoke["failure"]
        if failure["stage"] == HARNESS_STAGE:
            return HARNESS_STAGE, f"the smoke run's measurement failed: {failure['reason']}"
        return "smoke", (f"{failure['stage']} failed on the {lab.smoke_clip.width}x{lab.smoke_clip.height} smoke "
                         f"clip at quality {failure['quality']}: {failure['reason']}")
    signature = [[p["kbps"], p["psnr_y"]] for p in smoke["clips"][0]["points"]]
    lab.experiments.update_experiment(experiment["id"], {"rd_signature": signature})
    if experiment["proposer"] == "rerun":
        return None
    for other in lab.experiments.best_experiments(limit=DUPLICATE_SCAN, split="train", benchmark=lab.benchmark.id):
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
