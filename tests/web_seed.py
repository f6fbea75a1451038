"""Seeded stores for the dashboard's tests and benchmark: empty, failed-only, normal, hostile and huge.

Records are made the way the pipeline makes them (new_experiment, then the fields record() and
mark_failed() set, note_best() for the best history) and evaluation records are shaped like
aiv.evaluate's, with BD-rates from aiv.metrics.bdrate and summaries from aiv.evaluate.summarise.
The rate-distortion points come from a small model of a codec (rate grows exponentially with
PSNR, a codec is a rate factor against x264), and previews are real H.264 MP4s
(make_preview_mp4) of small synthetic clips.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path

import numpy as np

from aiv.aws.prices import GpuPrice, job_price
from aiv.benchmark import Benchmark, use_benchmark
from aiv.codec.sandbox import isolation_report
from aiv.cost_arithmetic import codec_seconds, with_codec_seconds, with_job_seconds
from aiv.evaluate import EvalSettings, empty_clip_record, summarise
from aiv.metrics.bdrate import bd_rate
from aiv.pipeline.recording import measured_fields, note_best
from aiv.provenance import lab_commit, tool_versions
from aiv.names import CAMPAIGN_STATE
from aiv.settings import CampaignSettings
from aiv.store import open_local_store
from aiv.store.local_artifacts import LocalArtifactStore
from aiv.store.ports import require_experiment
from aiv.names import code_key, result_key
from aiv.store.records import Experiment, ResultSummary, Summaries, new_experiment
from aiv.store.sqlite import SqliteExperimentStore
from aiv.video.clip import Clip
from aiv.results import mean_preview_point, preview_quality_index
from aiv.video.previews import make_preview_mp4, preview_entry

# The GPU job's price on the AWS app's default settings (Spot, g4dn.xlarge or g4dn.2xlarge, us-east-1).
GPU_PRICE = job_price("us-east-1", ("g4dn.xlarge", "g4dn.2xlarge"), spot=True)
TRAIN = ("pan_zoom", "moving_object", "light_cut")
VALIDATION = ("noisy_static",)
QUALITIES = (0.2, 0.4, 0.6, 0.8)
CRFS = (22, 27, 32, 37)
X265_RATE = 0.78  # x265 needs this fraction of x264's bits for the same PSNR in the model
MODEL = "claude-sonnet-4-5"
HOSTILE = '<script>alert(1)</script></script>" onload="alert(2)" \'><img src=x onerror=alert(3)>'
HOSTILE_CODE = (
    '"""</script><script>alert(4)</script>"""\nimport numpy as np\n'
    'NOTE = "\\" onload=\\"alert(5)"  # </textarea></pre><b>bold</b>\n'
    'def encode(y, u, v, fps, quality):\n    return b""\n\n'
    'def decode(bitstream):\n    raise ValueError("<script>alert(6)</script>")\n'
)
SEED_HOST = "seed-host"  # not this machine: a run's liveness is judged by its heartbeat alone


@dataclass
class SeededStore:
    """A seeded local store and the ids of its notable experiments by role."""

    path: Path
    experiments: SqliteExperimentStore
    artifacts: LocalArtifactStore
    ids: dict[str, str] = field(default_factory=dict)

    def close(self) -> None:
        self.experiments.close()


# --- clips, codec model, evaluation records -----------------------------------------------------


@cache
def synthetic_clip(name: str, frames: int = 24, width: int = 128, height: int = 96) -> Clip:
    """A small moving test pattern (a gradient, a square crossing it, noise that depends on `name`)."""
    rng = np.random.default_rng(sum(name.encode()))
    t = np.arange(frames)[:, None, None]
    yy, xx = (grid[None] for grid in np.mgrid[0:height, 0:width])
    y = 60 + 0.9 * xx + 0.5 * yy + 20 * np.sin((xx + 3 * t) / 9.0)
    square = (np.abs(xx - (10 + 4 * t) % width) < 12) & (np.abs(yy - height / 2) < 12)
    y = np.where(square, 220, y) + rng.normal(0, 3, (frames, height, width))
    u = np.full((frames, height // 2, width // 2), 118, np.uint8) + (t % 7).astype(np.uint8)
    v = np.full((frames, height // 2, width // 2), 136, np.uint8) - (t % 5).astype(np.uint8)
    return Clip(name, np.clip(y, 0, 255).astype(np.uint8), u, v, 30.0, "synthetic:web_seed")


def decoded_planes(clip: Clip, quality: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a lossy decoder might return: the clip quantised more coarsely at lower quality."""
    step = max(2, int(round(40 * (1 - quality))))
    return tuple((plane // step * step + step // 2).clip(0, 255).astype(np.uint8) for plane in (clip.y, clip.u, clip.v))


def _psnr_at(kbps: float, scale: float) -> float:
    return 30.0 + 3.2 * math.log2(kbps / scale)


def _kbps_at(psnr: float, scale: float) -> float:
    return scale * 2 ** ((psnr - 30.0) / 3.2)


def _quality_fields(psnr: float, vmaf: bool) -> dict:
    return {
        "psnr_y": round(psnr, 4),
        "psnr_yuv": round(psnr + 1.8, 4),
        "ssim_y": round(1 - 2.2 * 10 ** (-psnr / 20), 6),
        "vmaf": round(100 / (1 + math.exp(-(psnr - 33) / 2.5)), 3) if vmaf else None,
    }


def _anchors(clip: Clip, scale: float, vmaf: bool) -> dict:
    anchors = {}
    for name, factor in (("x264", 1.0), ("x265", X265_RATE)):
        points = []
        for crf in CRFS:
            kbps264 = scale * 2 ** ((37 - crf) / 5.5)
            kbps = kbps264 * factor
            points.append(
                {
                    "crf": crf,
                    "bytes": int(kbps * 1000 / 8 * clip.frames / clip.fps),
                    "kbps": round(kbps, 3),
                    **_quality_fields(_psnr_at(kbps264, scale), vmaf),
                }
            )
        anchors[name] = points
    return anchors


def clip_record(
    clip: Clip, rate_factor: float, rng: random.Random, vmaf: bool, speed: float, fail_at: int | None = None
) -> dict:
    """One clip of an evaluation record; `fail_at` stops it before that quality index (a failure there)."""
    scale = 40 + 30 * (sum(clip.name.encode()) % 7)
    record = empty_clip_record(clip)
    for index, quality in enumerate(QUALITIES):
        if index == fail_at:
            return record
        psnr = 29.0 + 11.0 * quality + rng.uniform(-0.15, 0.15)
        kbps = rate_factor * _kbps_at(psnr, scale) * rng.uniform(0.98, 1.02)
        frames = [
            round(psnr + 0.9 * math.sin(i / 3 + quality * 5) - (0.7 if i % 8 == 0 else 0), 4)
            for i in range(clip.frames)
        ]
        record["points"].append(
            {
                "quality": quality,
                "bytes": int(kbps * 1000 / 8 * clip.frames / clip.fps),
                "kbps": round(kbps, 3),
                **_quality_fields(psnr, vmaf),
                "psnr_y_frames": frames,
                "encode_s": round(clip.frames * 0.03 / speed, 4),
                "decode_s": round(clip.frames * 0.01 / speed, 4),
                "bitstream": None,
                "recon": None,
            }
        )
    record["anchors"] = _anchors(clip, scale, vmaf)
    for name, anchor in record["anchors"].items():
        record["bd_rate"][name] = {}
        for metric in ("psnr_y", "vmaf"):
            if metric == "vmaf" and not vmaf:
                record["bd_rate"][name][metric] = {"value": None, "reason": "VMAF was not measured (--no-vmaf)"}
            else:
                record["bd_rate"][name][metric] = bd_rate(
                    [(p["kbps"], p[metric]) for p in anchor], [(p["kbps"], p[metric]) for p in record["points"]]
                ).as_dict()
    return record


@cache
def _provenance() -> dict:
    commit = lab_commit()
    return {
        "lab_commit": commit["commit"],
        "lab_dirty": commit["dirty"],
        "versions": tool_versions(),
        "isolation": isolation_report(),
    }


def evaluation(
    experiment: Experiment,
    clips: list[Clip],
    rate_factor: float,
    rng: random.Random,
    vmaf: bool = False,
    speed: float = 1.0,
    failure: dict | None = None,
) -> dict:
    """An evaluation record of `experiment` on `clips` (failed at failure["clip"]/["quality"] when given)."""
    records = []
    for clip in clips:
        fail_at = QUALITIES.index(failure["quality"]) if failure and failure["clip"] == clip.name else None
        records.append(clip_record(clip, rate_factor, rng, vmaf, speed, fail_at))
        if fail_at is not None:
            break
    if failure:  # the evaluator measures anchors only once every clip's points are in
        for record in records:
            record["anchors"], record["bd_rate"] = {}, {}
    settings = EvalSettings(qualities=QUALITIES, vmaf=vmaf).as_record()
    return {
        "status": "failed" if failure else "ok",
        "failure": failure,
        "codec": {"name": experiment.id, "origin": experiment.code_key},
        "codec_sha256": experiment.code_sha256,
        **_provenance(),
        "created_at": experiment.created_at[:19] + "+00:00",
        "settings": settings,
        "clips": records,
        "summary": None if failure else summarise(records),
    }


# --- building experiments -----------------------------------------------------------------------

# the benchmark every seeded experiment belongs to (the store's current one)
BENCHMARK = Benchmark(
    "bm-web-seed",
    {
        "train": list(TRAIN),
        "validation": list(VALIDATION),
        "frames": 24,
        "qualities": list(QUALITIES),
        "anchors": {"anchors": ["x264", "x265"]},
    },
)


class Builder:
    """Adds experiments to a store the way the pipeline does, with times that advance per experiment."""

    def __init__(self, store: SeededStore, start: datetime, run_id: str, seed: int = 0, previews: bool = True):
        self.store, self.clock, self.run_id = store, start, run_id
        use_benchmark(store.experiments, BENCHMARK)  # the store's current benchmark, as a run makes it
        self.rng = random.Random(seed)
        self.previews = previews
        self.train = [synthetic_clip(name) for name in TRAIN]
        self.validation = [synthetic_clip(name) for name in VALIDATION]

    def _stamp(self) -> str:
        self.clock += timedelta(minutes=7)
        return self.clock.isoformat(timespec="microseconds")

    def propose(
        self,
        role: str,
        proposer: str,
        parents: list[str],
        hypothesis: str,
        code: str | None,
        model: str | None = None,
        cost: dict | None = None,
    ) -> Experiment:
        """A proposed experiment with its code stored, as propose() leaves it."""
        record = new_experiment(self.run_id, proposer, parents, hypothesis, None, model, benchmark=BENCHMARK.id)
        stamp = self._stamp()
        record = replace(
            record,
            created_at=stamp,
            updated_at=stamp,
            cost=cost or {"input_tokens": 0, "output_tokens": 0, "llm_usd": 0.0, "compute_s": 0.0},
        )
        if code is not None:
            sha = hashlib.sha256(code.encode()).hexdigest()
            self.store.artifacts.put(code_key(sha), code.encode(), "text/x-python")
            record = replace(record, code_sha256=sha, code_key=code_key(sha))
        self.store.experiments.create_experiment(record)
        self.store.experiments.add_event(record.id, "propose", f"attempt 1: {hypothesis[:200]}")
        self.store.ids[role] = record.id
        return record

    def succeed(
        self,
        record: Experiment,
        rate_factor: float,
        vmaf: bool = False,
        speed: float = 1.0,
        with_point: bool = True,
        previews: bool = False,
    ) -> Experiment:
        """Evaluate on the model codec and record the outcome, as evaluate() and record() do."""
        experiments = self.store.experiments
        experiments.add_event(record.id, "validate", "passed policy, duplicate and smoke checks")
        result = {
            "experiment_id": record.id,
            "status": "ok",
            "failure": None,
            "cascade": evaluation(record, [self.train[0]], rate_factor, self.rng, vmaf, speed),
            "train": evaluation(record, self.train, rate_factor, self.rng, vmaf, speed),
            "validation": evaluation(
                record, self.validation, rate_factor * self.rng.uniform(0.97, 1.08), self.rng, vmaf, speed
            ),
        }
        if previews and self.previews:
            self._store_previews(record.id, result)
        return self._record(record, result, with_point)

    def fail(self, record: Experiment, rate_factor: float, failure: dict) -> Experiment:
        """An evaluation that fails at failure["evaluation"] on failure["clip"] at failure["quality"]."""
        result = {
            "experiment_id": record.id,
            "status": "failed",
            "failure": failure,
            "cascade": None,
            "train": None,
            "validation": None,
        }
        stages = (("cascade", [self.train[0]]), ("train", self.train), ("validation", self.validation))
        for name, clips in stages:
            failed = failure if name == failure["evaluation"] else None
            result[name] = evaluation(
                record,
                clips,
                rate_factor,
                self.rng,
                failure={k: failure[k] for k in ("stage", "reason", "clip", "quality")} if failed else None,
            )
            if failed:
                break
        return self._record(record, result, with_point=False)

    def gpu_job(self, record: Experiment, seconds: float, price: GpuPrice | None) -> Experiment:
        """Add `seconds` of the GPU job to the experiment's cost, as gpu_runner/entry.py does."""
        cost = require_experiment(self.store.experiments, record.id).cost
        return self.store.experiments.update_experiment(record.id, {"cost": with_job_seconds(cost, seconds, price)})

    def _record(self, record: Experiment, result: dict, with_point: bool) -> Experiment:
        experiments, artifacts = self.store.experiments, self.store.artifacts
        key = result_key(record.id)
        artifacts.put(key, json.dumps(result).encode(), "application/json")
        ok = result["status"] == "ok"
        train = result.get("train") or {}
        compute = codec_seconds(result.get("cascade"), result.get("train"), result.get("validation"))
        fields = {
            **measured_fields(result, key),
            "settings": CampaignSettings(
                qualities=QUALITIES, train_clips=TRAIN, validation_clips=VALIDATION
            ).as_record(),
            "cost": with_codec_seconds(record.cost, compute),
        }
        if ok and with_point:
            fields["best_point"] = mean_preview_point(train)
        updated = experiments.update_experiment(record.id, fields)
        if ok:
            experiments.add_event(record.id, "evaluate", f"train measured: headline {updated.score:+.2f}%")
            experiments.add_event(record.id, "record", f"succeeded: {updated.score:+.2f}% BD-rate vs x264")
            if updated.score is not None:  # dated when the seeded evaluation would have ended, not now
                finished = datetime.fromisoformat(record.created_at) + timedelta(minutes=5)
                note_best(experiments, replace(updated, updated_at=finished.isoformat(timespec="microseconds")))
        else:
            experiments.add_event(record.id, "record", f"failed: {result['failure']['reason']}")
        return updated

    def _store_previews(self, experiment_id: str, result: dict) -> None:
        """Real previews of the decoded frames (at the preview quality) and of the sources, as the pipeline will."""
        quality = QUALITIES[preview_quality_index(QUALITIES)]
        for name, clips in (("train", self.train), ("validation", self.validation)):
            for clip, record in zip(clips, result[name]["clips"]):
                entry = preview_entry(experiment_id, clip, quality)
                if not self.store.artifacts.exists(entry["source_key"]):
                    self.store.artifacts.put(
                        entry["source_key"], make_preview_mp4(clip.y, clip.u, clip.v, clip.fps), "video/mp4"
                    )
                self.store.artifacts.put(
                    entry["recon_key"], make_preview_mp4(*decoded_planes(clip, quality), clip.fps), "video/mp4"
                )
                record["preview"] = entry


def mutated(code: str, rng: random.Random) -> str:
    """A variant of a module: one more line at the top and a changed constant, so diffs have something to show."""
    return f"# variant {rng.getrandbits(32):08x}: tuned quantiser\n" + code.replace("12", str(rng.randint(8, 16)), 1)


RUN_SPEND_USD = 0.42  # the model spend each seeded run records in its state document


def _register_run(
    store: SeededStore, run_id: str, status: str, started: datetime, heartbeat: datetime, iterations: int = 10
) -> None:
    store.experiments.put_state(
        f"run:{run_id}",
        {
            "run_id": run_id,
            "pid": 4242,
            "host": SEED_HOST,
            "started_at": started.isoformat(timespec="microseconds"),
            "heartbeat_at": heartbeat.isoformat(timespec="microseconds"),
            "status": status,
            "options": {"iterations": iterations, "proposer": "claude", "parallel": 2, "budget_usd": 5.0, "seed": 0},
            "settings": CampaignSettings().as_record(),
            "spend": {"llm_usd": RUN_SPEND_USD, "input_tokens": 120_000, "output_tokens": 30_000},
        },
    )


def _campaign(store: SeededStore, runs: list[str], at: datetime) -> None:
    store.experiments.put_state(
        CAMPAIGN_STATE, {"last_run": runs[0], "last_run_at": at.isoformat(timespec="microseconds"), "recent_runs": runs}
    )


def _open(path: Path) -> SeededStore:
    experiments, artifacts = open_local_store(path)
    return SeededStore(Path(path), experiments, artifacts)


# --- the stores ---------------------------------------------------------------------------------


def seed_empty(path: Path) -> SeededStore:
    """A store with nothing in it."""
    return _open(path)


def seed_failed_only(path: Path, count: int = 6) -> SeededStore:
    """Only failed and rejected experiments: no score, no best, no leaderboard."""
    store = _open(path)
    now = datetime.now(timezone.utc)
    _register_run(store, "run-failed", "finished", now - timedelta(hours=3), now - timedelta(hours=2))
    _campaign(store, ["run-failed"], now - timedelta(hours=3))
    build = Builder(store, now - timedelta(hours=3), "run-failed", seed=1)
    code = "import numpy as np\n\ndef encode(y, u, v, fps, quality):\n    return b'x'\n"
    for n in range(count):
        record = build.propose(f"failed{n}", "offline", [], f"failing idea {n}", code + f"# {n}\n")
        if n % 2:
            build.fail(
                record,
                1.2,
                {
                    "stage": "decode",
                    "reason": f"decode returned 0 frames, expected 24 (try {n})",
                    "clip": TRAIN[0],
                    "quality": QUALITIES[1],
                    "evaluation": "cascade",
                },
            )
        else:
            reason = "forbidden import 'socket' at line 3"
            store.experiments.update_experiment(
                record.id,
                {
                    "status": "rejected",
                    "stage": "policy",
                    "attempts": [
                        {"attempt": i, "stage": "policy", "reason": reason, "code_sha256": record.code_sha256}
                        for i in (1, 2, 3)
                    ],
                    "failure": {
                        "stage": "policy",
                        "reason": f"rejected 3 times; last at policy: {reason}",
                        "clip": None,
                        "quality": None,
                    },
                },
            )
            store.experiments.add_event(record.id, "rejected", f"policy: rejected 3 times; last at policy: {reason}")
    return store


def seed_normal(path: Path, aws_states: bool = False, previews: bool = True) -> SeededStore:
    """A small campaign: two seeds, offline and Claude children, a failure, a rejection, work in progress.

    Roles in `ids`: intra, hybrid, offline1, claude1, best, not_comparable, failed, cascade_failed,
    rejected, evaluating, proposed. `aws_states` adds the "schedule" and "costs" documents AWS writes.
    """
    from aiv.codec.contract import builtin_source

    store = _open(path)
    now = datetime.now(timezone.utc)
    _register_run(store, "run-seed-1", "finished", now - timedelta(hours=5), now - timedelta(hours=4))
    _register_run(store, "run-seed-2", "running", now - timedelta(hours=1), now)
    _campaign(store, ["run-seed-2", "run-seed-1"], now - timedelta(hours=1))
    build = Builder(store, now - timedelta(hours=5), "run-seed-1", seed=7, previews=previews)
    rng = build.rng
    sources = {name: builtin_source(name).source for name in ("intra", "hybrid")}
    intra = build.propose("intra", "builtin", [], "built-in reference codec 'intra'", sources["intra"])
    build.succeed(intra, 1.35, speed=3.0, with_point=False)
    hybrid = build.propose("hybrid", "builtin", [], "built-in reference codec 'hybrid'", sources["hybrid"])
    build.succeed(hybrid, 1.12, speed=1.0, with_point=False)
    claude_cost = {"input_tokens": 18_400, "output_tokens": 3_900, "llm_usd": 0.1137, "compute_s": 0.0}
    offline1 = build.propose(
        "offline1", "offline", [hybrid.id], "raise the deblocking strength by one step", mutated(sources["hybrid"], rng)
    )
    build.succeed(offline1, 1.08, speed=1.1)
    claude1 = build.propose(
        "claude1",
        "claude",
        [hybrid.id],
        "Code motion vectors with a context-adaptive binary arithmetic coder instead of lzma.",
        mutated(sources["hybrid"], rng),
        MODEL,
        dict(claude_cost),
    )
    build.succeed(claude1, 0.96, speed=0.8, previews=True)
    build.gpu_job(claude1, 187.9, None)  # evaluated by the job on a local store: no price
    build.run_id = "run-seed-2"
    best = build.propose(
        "best",
        "claude",
        [claude1.id],
        "Add overlapped block motion compensation and a trained in-loop filter; keep the entropy coder.",
        mutated(store.artifacts.get(claude1.code_key).decode(), rng),
        MODEL,
        dict(claude_cost, llm_usd=0.1412),
    )
    build.succeed(best, 0.90, vmaf=True, speed=0.6, previews=True)
    build.gpu_job(best, 312.4, GPU_PRICE)  # the GPU job on AWS, priced by the stack
    odd = build.propose(
        "not_comparable", "offline", [hybrid.id], "quantise chroma twice as coarsely", mutated(sources["hybrid"], rng)
    )
    odd = build.succeed(odd, 1.05, speed=1.2)
    result = json.loads(store.artifacts.get(odd.result_key))
    reason = "quality ranges overlap by 0.4 dB, less than 25 % of the smaller range"
    result["train"]["clips"][1]["bd_rate"]["x265"]["psnr_y"] = {"value": None, "reason": reason}
    result["train"]["summary"] = summarise(result["train"]["clips"])
    store.artifacts.put(odd.result_key, json.dumps(result).encode())
    store.experiments.update_experiment(
        odd.id, {"summary": replace(odd.summary, train=ResultSummary.from_record(result["train"]["summary"]))}
    )
    failed = build.propose(
        "failed",
        "claude",
        [claude1.id],
        "Predict chroma from luma with a per-block linear model.",
        mutated(sources["hybrid"], rng),
        MODEL,
        dict(claude_cost, llm_usd=0.0981),
    )
    build.fail(
        failed,
        0.95,
        {
            "stage": "decode",
            "reason": "decode returned shape (23, 96, 128), expected (24, 96, 128)",
            "clip": TRAIN[1],
            "quality": QUALITIES[2],
            "evaluation": "train",
        },
    )
    for line in ("encode q=0.60 took 4.1 s", "decode exited with status 0 after 1.2 s"):
        store.experiments.add_event(failed.id, "evaluate", line)
    cascade = build.propose(
        "cascade_failed", "offline", [hybrid.id], "drop the loop filter", mutated(sources["hybrid"], rng)
    )
    build.fail(
        cascade,
        1.0,
        {
            "stage": "encode",
            "reason": "MemoryError: the encoder exceeded 4096 MB",
            "clip": TRAIN[0],
            "quality": QUALITIES[3],
            "evaluation": "cascade",
        },
    )
    rejected = build.propose(
        "rejected",
        "claude",
        [best.id],
        "Use a lookup table read from disk.",
        "import os\n" + sources["intra"],
        MODEL,
        dict(claude_cost, llm_usd=0.2210),
    )
    reason = "forbidden import 'os' at line 1: the decoder may not touch the file system"
    store.experiments.update_experiment(
        rejected.id,
        {
            "status": "rejected",
            "stage": "policy",
            "attempts": [
                {"attempt": i, "stage": "policy", "reason": reason, "code_sha256": rejected.code_sha256}
                for i in (1, 2, 3)
            ],
            "failure": {
                "stage": "policy",
                "reason": f"rejected 3 times; last at policy: {reason}",
                "clip": None,
                "quality": None,
            },
        },
    )
    store.experiments.add_event(rejected.id, "rejected", f"attempt 3 rejected at policy: {reason}")
    evaluating = build.propose(
        "evaluating",
        "claude",
        [best.id],
        "Larger search range for fast motion.",
        mutated(store.artifacts.get(best.code_key).decode(), rng),
        MODEL,
        dict(claude_cost),
    )
    store.experiments.update_experiment(evaluating.id, {"status": "evaluating", "stage": "evaluate"})
    store.experiments.add_event(evaluating.id, "evaluate", f"cascade: first 8 frames of {TRAIN[0]}")
    proposed = build.propose("proposed", "claude", [best.id], "", None, MODEL)
    store.experiments.add_event(None, "run", "run-seed-2 started: 10 iterations, proposer claude, 2 at once")
    if aws_states:
        store.experiments.put_state(
            "schedule",
            {"enabled": True, "expression": "rate(6 hours)", "next_run_at": (now + timedelta(hours=2)).isoformat()},
        )
        days = [(now - timedelta(days=d)).date().isoformat() for d in range(6, -1, -1)]
        daily = [
            {
                "date": day,
                "by_category": {
                    "Orchestrator": 0.02 + i * 0.001,
                    "Inference": 1.1 + 0.2 * i,
                    "Storage": 0.01,
                    "Dashboard": 0.003,
                },
            }
            for i, day in enumerate(days)
        ]
        totals = {name: round(sum(d["by_category"][name] for d in daily), 4) for name in daily[0]["by_category"]}
        store.experiments.put_state(
            "costs", {"updated_at": now.isoformat(), "currency": "USD", "by_category": totals, "daily": daily}
        )
    store.ids["proposed"] = proposed.id
    return store


def seed_hostile(path: Path, aws_states: bool = False, previews: bool = False) -> SeededStore:
    """The normal store plus experiments whose every model-written field is HTML/JS meant to run."""
    store = seed_normal(path, aws_states=aws_states, previews=previews)
    build = Builder(store, datetime.now(timezone.utc) - timedelta(minutes=30), "run-seed-2", seed=11, previews=False)
    hostile = build.propose(
        "hostile",
        "claude",
        [store.ids["best"]],
        HOSTILE,
        HOSTILE_CODE,
        HOSTILE,
        {"input_tokens": 1, "output_tokens": 1, "llm_usd": 0.001, "compute_s": 0.0},
    )
    pattern = synthetic_clip("x")
    hostile_clip = Clip(HOSTILE, pattern.y, pattern.u, pattern.v, 30.0, HOSTILE)
    build.train = [hostile_clip] + build.train[1:]
    build.succeed(hostile, 0.85, speed=0.9)
    store.experiments.add_event(hostile.id, "note", HOSTILE)
    failing = build.propose("hostile_failed", "claude", [hostile.id], HOSTILE, HOSTILE_CODE + "\n# v2\n", HOSTILE)
    build.fail(
        failing,
        1.0,
        {"stage": "decode", "reason": HOSTILE, "clip": HOSTILE, "quality": QUALITIES[1], "evaluation": "train"},
    )
    return store


def seed_huge(path: Path, count: int = 10_000, materialised: int = 40, seed: int = 3) -> SeededStore:
    """`count` experiments in a realistic mix of outcomes and lineage, as a long campaign leaves them.

    Records carry summaries, costs, best points and failures. Full evaluation records and code are
    stored for `materialised` experiments spread over the campaign and better on train than all
    others (what the leaderboard and the best experiment's page read); the other records name
    result keys whose artifacts are not stored.
    """
    store = _open(path)
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    start = now - timedelta(seconds=count * 30)
    runs = [f"run-huge-{n:04d}" for n in range(count // 500 + 1)]
    for index, run_id in enumerate(runs):
        started = start + timedelta(seconds=index * 500 * 30)
        last = index == len(runs) - 1
        _register_run(store, run_id, "running" if last else "finished", started, now if last else started)
    _campaign(store, runs[::-1][:20], start)
    outcomes = [rng.random() for _ in range(count)]
    succeeded = [n for n in range(count) if outcomes[n] < 0.6]
    chosen = set(rng.sample(succeeded, min(materialised, len(succeeded))))
    # the materialised experiments are the best on train: the leaderboard's top reads their results
    factors = [rng.uniform(0.75, 0.88) if n in chosen else rng.uniform(0.9, 1.6) for n in range(count)]
    build = Builder(store, start, runs[0], seed=seed, previews=False)
    code = "import numpy as np\n\ndef encode(y, u, v, fps, quality):\n    return bytes(8)\n"
    ids: list[str] = []
    for n in range(count):
        build.run_id = runs[n // 500]
        parents = (
            sorted({rng.choice(ids[:20] if rng.random() < 0.5 else ids) for _ in range(rng.choice((1, 1, 2)))})
            if ids
            else []
        )
        cost = {
            "input_tokens": rng.randint(2000, 40000),
            "output_tokens": rng.randint(500, 8000),
            "llm_usd": round(rng.uniform(0, 0.5), 6),
            "compute_s": round(rng.uniform(1, 600), 3),
        }
        if n in chosen:
            record = build.propose(
                f"top{len(store.ids)}",
                "claude",
                parents,
                f"idea {n}: sharper motion search",
                code + f"# {n}\n",
                MODEL,
                cost,
            )
            build.succeed(record, factors[n], speed=rng.uniform(0.3, 3))
            ids.append(record.id)
            continue
        record = new_experiment(
            build.run_id,
            rng.choice(("offline", "claude")),
            parents,
            f"Replace the 8x8 DCT with an adaptive 16x16 transform, variant {n}.",
            f"{rng.getrandbits(256):064x}",
            MODEL,
            experiment_id=f"exp-huge-{n:06d}",
            benchmark=BENCHMARK.id,
        )
        stamp = build._stamp()
        record = replace(record, created_at=stamp, updated_at=stamp, cost=cost)
        outcome = outcomes[n]
        if outcome < 0.6:
            score = (factors[n] - 1) * 100
            summary = ResultSummary(
                score, (factors[n] / X265_RATE - 1) * 100, None, {"bd_rate_x264_vmaf": "VMAF was not measured"}
            )
            record = replace(
                record,
                status="succeeded",
                stage="record",
                score=score,
                score_validation=score + rng.uniform(-3, 6),
                summary=Summaries(summary, summary),
                result_key=f"results/{record.id}.json",
                best_point={
                    "quality": 0.6,
                    "kbps": rng.uniform(50, 900),
                    "psnr_y": rng.uniform(31, 38),
                    "ssim_y": rng.uniform(0.93, 0.98),
                    "vmaf": None,
                    "encode_fps": rng.uniform(5, 200),
                    "decode_fps": rng.uniform(20, 600),
                },
            )
        elif outcome < 0.85:
            record = replace(
                record,
                status="failed",
                stage="evaluate",
                failure={
                    "stage": "decode",
                    "clip": rng.choice(TRAIN),
                    "quality": 0.6,
                    "reason": "decode returned shape (23, 96, 128), expected (24, 96, 128)",
                },
            )
        elif outcome < 0.95:
            record = replace(
                record,
                status="rejected",
                stage="policy",
                attempts=[{"attempt": i, "stage": "policy", "reason": "forbidden import: os"} for i in (1, 2, 3)],
            )
        else:
            record = replace(record, status=rng.choice(("proposed", "validating", "evaluating")))
        store.experiments.create_experiment(record)
        if record.status == "succeeded":
            note_best(store.experiments, record)
        if n >= count - 300:
            store.experiments.add_event(record.id, record.stage, f"{record.status} at {record.stage}")
        ids.append(record.id)
    store.ids["newest"] = ids[-1]
    store.ids["best"] = store.experiments.best_experiments(limit=1, benchmark=BENCHMARK.id)[0].id
    return store


SEEDS = {
    "empty": seed_empty,
    "failed": seed_failed_only,
    "normal": seed_normal,
    "hostile": seed_hostile,
    "huge": seed_huge,
}
