"""The experiment record: its fields, statuses, and the helpers that build one.

An experiment is one candidate codec on its way through propose -> validate -> evaluate -> record.
Fields (every one JSON-serialisable):

    id              "exp-<time>-<random>", sortable by creation time
    run_id          the campaign run that made it
    created_at, updated_at   ISO-8601 UTC
    status          one of STATUSES
    stage           the step it is in now, or the step it failed at
    parents         list of parent experiment ids (empty for a built-in seed)
    proposer        "builtin", "import" (a researcher's own module, `aiv import`), "offline", "claude", or
                    "rerun" (the same code as its parent, measured again)
    model           the model name (claude) or None
    hypothesis      the proposer's short hypothesis text
    code_sha256     sha256 of the module source (None until a proposal produced code)
    code_key        the artifact key of the source, `code/<sha256>.py` (None likewise)
    attempts        list of {"attempt", "stage", "reason", "code_sha256", "hypothesis"}: each rejected attempt
                    of this candidate (at propose, the policy, the smoke run, a duplicate check or an early
                    stop at the cascade stage, which adds "saved_points"), in order; code_sha256 and
                    hypothesis are None and "" when the attempt made no module. The model's reply of
                    attempt N, when there was one, is the artifact aiv.names.reply_key(id, N)
    failure         None, or {"stage", "reason", "clip", "quality"}
    score           headline BD-rate vs x264 on PSNR-Y over the train clips (lower is better), or None
    score_validation   the same over the validation clips, or None
    summary         {"train": summary, "validation": summary} as computed by aiv.evaluate.summarise
    result_key      artifact key of the full evaluation record (JSON), or None
    clip_scores     {clip name: BD-rate vs x264 on PSNR-Y or None} over the train clips
    best_point      the operating point listed for it: aiv.results.mean_preview_point of the train evaluation
    cost            {"input_tokens" (prompt-cache reads and writes included), "cache_read_tokens",
                    "cache_write_tokens", "output_tokens", "llm_usd", "compute_s" (the codec's own seconds)}; on
                    AWS the GPU job adds "batch_s" (its measured wall seconds), "gpu_usd" and
                    "gpu_price_basis" (aiv/aws/prices.py; None where no price applies, as locally)
    settings        the evaluation settings used
    benchmark       the benchmark id its scores belong to (aiv/benchmark.py); absent or UNKNOWN ("unknown")
                    on a record stored before benchmarks were recorded: such scores are never mixed with others
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone

from aiv.names import code_key

STATUSES = ("proposed", "validating", "evaluating", "succeeded", "failed", "rejected")
ACTIVE_STATUSES = ("proposed", "validating", "evaluating")
FINAL_STATUSES = ("succeeded", "failed", "rejected")
SEED_PROPOSERS = ("builtin", "import")  # where a campaign starts from: no parent, code not proposed by the search
UNKNOWN_BENCHMARK = "unknown"


def benchmark_of(experiment: dict) -> str:
    """The benchmark an experiment belongs to (UNKNOWN_BENCHMARK for a record older than benchmarks)."""
    return experiment.get("benchmark") or UNKNOWN_BENCHMARK


def now_iso() -> str:
    """The current UTC time as ISO-8601 with microseconds (sortable as text)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def new_experiment_id() -> str:
    """A unique id that sorts by creation time."""
    return f"exp-{time.time_ns() // 1000:016x}-{os.urandom(3).hex()}"


def new_experiment(run_id: str, proposer: str, parents: list[str], hypothesis: str, code_sha256: str | None,
                   model: str | None = None, experiment_id: str | None = None, *, benchmark: str) -> dict:
    """A fresh experiment record in status "proposed", on `benchmark` (the id its scores will belong to)."""
    stamp = now_iso()
    return {
        "id": experiment_id or new_experiment_id(), "run_id": run_id, "created_at": stamp, "updated_at": stamp,
        "status": "proposed", "stage": "propose", "parents": list(parents), "proposer": proposer,
        "model": model, "hypothesis": hypothesis, "code_sha256": code_sha256,
        "code_key": code_key(code_sha256) if code_sha256 else None,
        "attempts": [], "failure": None, "score": None, "score_validation": None, "summary": None,
        "result_key": None, "clip_scores": None, "best_point": None,
        "cost": {"input_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0, "output_tokens": 0,
                 "llm_usd": 0.0, "compute_s": 0.0}, "settings": None,
        "benchmark": benchmark,
    }
