"""The archive's view for a proposer: which parent to improve, what to show beside it, what failed.

Parent selection mixes exploitation (the best headline BD-rate), exploration (programs whose
per-clip strengths differ most from the best's: diverse rate-distortion behaviour, not only
diverse code) and the built-in seeds. Every read is an indexed store query.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass

from aiv.search.proposer import ArchiveEntry, ProposalContext, Rejection
from aiv.store.ports import ArtifactStore, ExperimentStore

EXPLOIT_SHARE = 0.6  # share of proposals that improve one of the best programs
EXPLORE_SHARE = 0.3  # share that improve a program with the most different RD behaviour
TOP_K = 8  # how many of the best programs are candidates at all
OTHERS = 3  # programs shown beside the parent
REJECTIONS = 6  # recent failures shown to the proposer


class EmptyArchive(Exception):
    """There is no succeeded experiment to start from: the built-in seeds must be evaluated first."""


@dataclass(frozen=True)
class Selection:
    """A chosen parent and why it was chosen ("exploit", "explore" or "seed")."""

    parent: dict
    mode: str


def select_parent(experiments: ExperimentStore, rng: random.Random, benchmark: str) -> Selection:
    """Choose the experiment the next proposal improves, among the experiments of `benchmark` only."""
    best = experiments.best_experiments(limit=TOP_K, split="train", benchmark=benchmark)
    if not best:
        raise EmptyArchive(f"no experiment has succeeded on benchmark {benchmark} yet; "
                           f"evaluate the built-in seeds on it first")
    draw = rng.random()
    if draw < EXPLOIT_SHARE or len(best) == 1:
        weights = [1.0 / (rank + 1) for rank in range(len(best))]
        return Selection(rng.choices(best, weights=weights)[0], "exploit")
    if draw < EXPLOIT_SHARE + EXPLORE_SHARE:
        return Selection(most_different(best[0], best[1:]), "explore")
    seeds = [e for e in experiments.best_experiments(limit=TOP_K * 4, split="train", benchmark=benchmark)
             if e["proposer"] == "builtin"]
    return Selection(rng.choice(seeds or best), "seed")


def behaviour(experiment: dict) -> dict[str, float]:
    """An experiment's rate-distortion behaviour: its BD-rate against x264 on each train clip."""
    return {name: value for name, value in (experiment.get("clip_scores") or {}).items() if value is not None}


def most_different(reference: dict, candidates: list[dict]) -> dict:
    """The candidate whose per-clip BD-rates are farthest from the reference's (Euclidean, shared clips)."""
    ref = behaviour(reference)

    def distance(candidate: dict) -> float:
        other = behaviour(candidate)
        shared = ref.keys() & other.keys()
        return math.sqrt(sum((ref[k] - other[k]) ** 2 for k in shared)) if shared else 0.0

    return max(candidates, key=distance)


def archive_entry(experiment: dict, artifacts: ArtifactStore) -> ArchiveEntry:
    """An experiment as a proposer sees it: code, hypothesis, score and compact per-clip results."""
    code = artifacts.get(experiment["code_key"]).decode()
    clips: list[dict] = []
    if experiment.get("result_key"):
        result = json.loads(artifacts.get(experiment["result_key"]))
        clips = [compact_clip(clip) for clip in (result.get("train") or {}).get("clips", [])]
    return ArchiveEntry(experiment_id=experiment["id"], code=code, hypothesis=experiment.get("hypothesis", ""),
                        score=experiment.get("score"), clips=clips)


def compact_clip(clip: dict) -> dict:
    """The parts of a clip's evaluation a prompt needs: RD points, anchor points, BD-rates."""
    keep = ("quality", "kbps", "psnr_y", "ssim_y", "vmaf", "encode_s", "decode_s")
    return {
        "name": clip["name"],
        "bd_rate": clip.get("bd_rate", {}),
        "points": [{k: p.get(k) for k in keep} for p in clip.get("points", [])],
        "anchors": {name: [{"crf": p["crf"], "kbps": p["kbps"], "psnr_y": p["psnr_y"]} for p in points]
                    for name, points in clip.get("anchors", {}).items()},
    }


def recent_rejections(experiments: ExperimentStore, limit: int = REJECTIONS) -> list[Rejection]:
    """The newest failed and rejected experiments with their exact failure text; a failure of the harness (a
    metric or an anchor, stage "harness") is the lab's, not the code's, and is not among them."""
    failed = [e for e in experiments.list_experiments(status="failed", limit=limit).items
              if (e.get("failure") or {}).get("stage") != "harness"]
    rejected = experiments.list_experiments(status="rejected", limit=limit).items
    newest = sorted(failed + rejected, key=lambda e: e["updated_at"], reverse=True)[:limit]
    return [Rejection(experiment_id=e["id"], stage=(e.get("failure") or {}).get("stage", e.get("stage", "")),
                      reason=(e.get("failure") or {}).get("reason", ""), hypothesis=e.get("hypothesis", ""))
            for e in newest]


def build_context(experiments: ExperimentStore, artifacts: ArtifactStore, parent: dict, seed: int,
                  retry_feedback: Rejection | None = None, *, benchmark: str) -> ProposalContext:
    """Everything a proposer is shown to improve `parent`: the other programs are of `benchmark` only."""
    best = experiments.best_experiments(limit=TOP_K, split="train", benchmark=benchmark)
    others = [e for e in best if e["id"] != parent["id"]]
    shown = others[:1]
    if len(others) > 1:
        shown.append(most_different(parent, others[1:]))
    shown += [e for e in others if e not in shown][: OTHERS - len(shown)]
    return ProposalContext(parent=archive_entry(parent, artifacts),
                           others=[archive_entry(e, artifacts) for e in shown],
                           rejections=recent_rejections(experiments), retry_feedback=retry_feedback, seed=seed)
