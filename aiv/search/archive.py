"""The archive's view for a proposer: which parent to improve, what to show beside it, what failed.

Parent selection spends the first proposals on the best program (a short campaign climbs from
there), and once WARMUP_PROPOSALS proposals have succeeded mixes exploitation (the best headline
BD-rates, rank-weighted), exploration (among programs within EXPLORE_WITHIN points of the best,
the one whose per-clip strengths differ most from the best's: diverse rate-distortion behaviour,
not only diverse code) and the built-in seeds within the same margin. Every read is an indexed
store query or a read by key.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass

from aiv.codec.policy import MAX_SOURCE_BYTES
from aiv.search.proposer import ArchiveEntry, CampaignLimits, LineageStep, PastAttempt, ProposalContext, Rejection
from aiv.settings import SMOKE_FRAMES, SMOKE_SIZE, CampaignSettings
from aiv.store.ports import ArtifactStore, ExperimentStore
from aiv.store.records import Experiment
from aiv.names import code_key, reply_key
from aiv.video.descriptions import content_of

EXPLOIT_SHARE = 0.6  # share of proposals (after the warm-up) that improve one of the best programs
EXPLORE_SHARE = 0.3  # share that improve a program with the most different RD behaviour
WARMUP_PROPOSALS = 4  # until this many proposals have succeeded, every proposal improves the best program
EXPLORE_WITHIN = 25.0  # exploration and seeds only pick programs this many BD-rate points from the best
TOP_K = 8  # how many of the best programs are candidates at all
OTHERS = 3  # programs shown beside the parent
REJECTIONS = 6  # recent failures shown to the proposer
LINEAGE = 6  # ancestors of the parent shown


class EmptyArchive(Exception):
    """There is no succeeded experiment to start from: the built-in seeds must be evaluated first."""


@dataclass(frozen=True)
class Selection:
    """A chosen parent and why it was chosen ("warm-up", "exploit", "explore" or "seed")."""

    parent: Experiment
    mode: str


def select_parent(experiments: ExperimentStore, rng: random.Random, benchmark: str) -> Selection:
    """Choose the experiment the next proposal improves, among the experiments of `benchmark` only."""
    best = experiments.best_experiments(limit=TOP_K, split="train", benchmark=benchmark)
    if not best:
        raise EmptyArchive(
            f"no experiment has succeeded on benchmark {benchmark} yet; evaluate the built-in seeds on it first"
        )
    if sum(e.proposer != "builtin" for e in best) < WARMUP_PROPOSALS:
        return Selection(best[0], "warm-up")
    draw = rng.random()
    if draw < EXPLOIT_SHARE:
        weights = [1.0 / (rank + 1) for rank in range(len(best))]
        return Selection(rng.choices(best, weights=weights)[0], "exploit")
    contenders = within_reach(best[0], best[1:])
    if draw < EXPLOIT_SHARE + EXPLORE_SHARE and contenders:
        return Selection(most_different(best[0], contenders), "explore")
    seeds = within_reach(
        best[0],
        [
            e
            for e in experiments.best_experiments(limit=TOP_K * 4, split="train", benchmark=benchmark)
            if e.proposer == "builtin"
        ],
    )
    return Selection(rng.choice(seeds), "seed") if seeds else Selection(best[0], "exploit")


def within_reach(best: Experiment, candidates: list[Experiment]) -> list[Experiment]:
    """The candidates whose score is at most EXPLORE_WITHIN points worse than the best's."""
    if best.score is None:
        raise ValueError(f"experiment {best.id} has no score to measure reach from")
    reach = best.score + EXPLORE_WITHIN
    return [e for e in candidates if e.score is not None and e.score <= reach]


def behaviour(experiment: Experiment) -> dict[str, float]:
    """An experiment's rate-distortion behaviour: its BD-rate against x264 on each train clip."""
    return {name: value for name, value in (experiment.clip_scores or {}).items() if value is not None}


def most_different(reference: Experiment, candidates: list[Experiment]) -> Experiment:
    """The candidate whose per-clip BD-rates are farthest from the reference's (Euclidean, shared clips)."""
    ref = behaviour(reference)

    def distance(candidate: Experiment) -> float:
        other = behaviour(candidate)
        shared = ref.keys() & other.keys()
        return math.sqrt(sum((ref[k] - other[k]) ** 2 for k in shared)) if shared else 0.0

    return max(candidates, key=distance)


def archive_entry(
    experiment: Experiment, artifacts: ArtifactStore, experiments: ExperimentStore | None = None
) -> ArchiveEntry:
    """An experiment as a proposer sees it: code, hypothesis, score, compact per-clip results, and (with
    `experiments`) its lineage."""
    if experiment.code_key is None:
        raise ValueError(f"experiment {experiment.id} has no code to show a proposer")
    code = artifacts.get(experiment.code_key).decode()
    clips: list[dict] = []
    if experiment.result_key:
        result = json.loads(artifacts.get(experiment.result_key))
        clips = [compact_clip(clip) for clip in (result.get("train") or {}).get("clips", [])]
    return ArchiveEntry(
        experiment_id=experiment.id,
        code=code,
        hypothesis=experiment.hypothesis,
        score=experiment.score,
        clips=clips,
        lineage=lineage(experiment, experiments) if experiments is not None else (),
    )


def lineage(experiment: Experiment, experiments: ExperimentStore, depth: int = LINEAGE) -> tuple[LineageStep, ...]:
    """`experiment` and up to depth - 1 of its ancestors (first parents), each with its parent's scores."""
    chain = [experiment]
    while len(chain) <= depth and chain[-1].parents:
        ancestor = experiments.get_experiment(chain[-1].parents[0])
        if ancestor is None:
            break
        chain.append(ancestor)
    steps = []
    parents: list[Experiment | None] = [*chain[1:], None]
    for child, parent in zip(chain[:depth], parents):
        steps.append(
            LineageStep(
                child.id,
                child.hypothesis,
                child.score,
                dict(child.clip_scores or {}),
                parent.score if parent else None,
                dict(parent.clip_scores or {}) if parent else {},
            )
        )
    return tuple(steps)


def compact_clip(clip: dict) -> dict:
    """The parts of a clip's evaluation a prompt needs: what the clip is, RD points with per-frame
    PSNR-Y, both anchors' points, BD-rates."""
    keep = ("quality", "kbps", "psnr_y", "psnr_yuv", "ssim_y", "vmaf", "encode_s", "decode_s", "psnr_y_frames")
    facts = {k: clip.get(k) for k in ("name", "source", "width", "height", "frames", "fps")}
    return {
        **facts,
        "content": content_of(clip.get("source") or ""),
        "bd_rate": clip.get("bd_rate", {}),
        "points": [{k: p.get(k) for k in keep} for p in clip.get("points", [])],
        "anchors": {
            name: [{"crf": p["crf"], "kbps": p["kbps"], "psnr_y": p["psnr_y"]} for p in points]
            for name, points in clip.get("anchors", {}).items()
        },
    }


def recent_rejections(
    experiments: ExperimentStore, limit: int = REJECTIONS, exclude: str | None = None
) -> list[Rejection]:
    """The newest failed and rejected experiments with their exact failure text, and the last rejected
    attempt of experiments still being retried (in flight); `exclude` leaves one experiment out. A failure
    of the harness (a metric or an anchor, stage "harness") is the lab's, not the code's, and is not among them."""
    closed = [
        (e, e.failure or {})
        for status in ("failed", "rejected")
        for e in experiments.list_experiments(status=status, limit=limit).items
        if (e.failure or {}).get("stage") != "harness"
    ]
    in_flight = [
        (e, e.attempts[-1]) for e in experiments.list_experiments(status="proposed", limit=limit).items if e.attempts
    ]
    newest = sorted(
        (pair for pair in closed + in_flight if pair[0].id != exclude),
        key=lambda pair: pair[0].updated_at,
        reverse=True,
    )[:limit]
    return [
        Rejection(
            experiment_id=e.id, stage=why.get("stage", e.stage), reason=why.get("reason", ""), hypothesis=e.hypothesis
        )
        for e, why in newest
    ]


def campaign_limits(settings: CampaignSettings) -> CampaignLimits:
    """The limits a candidate runs under in a campaign with `settings`."""
    return CampaignLimits(
        timeout_s=settings.timeout_s,
        memory_mb=settings.memory_mb,
        module_bytes=MAX_SOURCE_BYTES,
        qualities=tuple(settings.qualities),
        smoke_size=SMOKE_SIZE,
        smoke_frames=SMOKE_FRAMES,
        vmaf=settings.vmaf,
    )


def past_attempts(experiment: Experiment, artifacts: ArtifactStore) -> tuple[PastAttempt, ...]:
    """The recorded rejected attempts of `experiment`, oldest first, with each one's reply (the artifact
    at aiv.names.reply_key) and module ("code_sha256") when they were recorded."""
    attempts = []
    for attempt in experiment.attempts:
        key = reply_key(experiment.id, attempt["attempt"])
        reply = artifacts.get(key).decode() if artifacts.exists(key) else None
        code = artifacts.get(code_key(attempt["code_sha256"])).decode() if attempt.get("code_sha256") else None
        attempts.append(
            PastAttempt(
                Rejection(experiment.id, attempt["stage"], attempt["reason"], attempt.get("hypothesis", "")),
                reply,
                code,
            )
        )
    return tuple(attempts)


def build_context(
    experiments: ExperimentStore,
    artifacts: ArtifactStore,
    parent: Experiment,
    seed: int,
    retry_feedback: Rejection | None = None,
    *,
    experiment: Experiment | None = None,
    settings: CampaignSettings | None = None,
    benchmark: str,
) -> ProposalContext:
    """Everything a proposer is shown to improve `parent`. `experiment` is the candidate being retried
    (its recorded attempts become the conversation); without it, `retry_feedback` is its one past attempt.
    The other programs shown are of `benchmark` only."""
    best = experiments.best_experiments(limit=TOP_K, split="train", benchmark=benchmark)
    others = [e for e in best if e.id != parent.id]
    shown = others[:1]
    diverse = within_reach(best[0], others[1:])
    if diverse:
        shown.append(most_different(parent, diverse))
    shown += [e for e in others if e not in shown][: OTHERS - len(shown)]
    if experiment is not None:
        attempts = past_attempts(experiment, artifacts)
    else:
        attempts = (PastAttempt(retry_feedback),) if retry_feedback is not None else ()
    return ProposalContext(
        parent=archive_entry(parent, artifacts, experiments),
        others=[archive_entry(e, artifacts) for e in shown],
        rejections=recent_rejections(experiments, exclude=experiment.id if experiment else None),
        attempts=attempts,
        seed=seed,
        limits=campaign_limits(settings or CampaignSettings()),
    )
