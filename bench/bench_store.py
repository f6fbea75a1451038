"""Benchmark the SQLite ExperimentStore on the queries the dashboard and the search loop make.

Seeds stores of 100 / 1,000 / 10,000 experiments with realistic records (summaries, costs,
settings, lineage) through the port itself, then prints p50/p95 milliseconds per call:

    .venv/bin/python bench/bench_store.py [--sizes 100 1000 10000] [--repeats 200]
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from aiv.store.records import Experiment, ResultSummary, Summaries, new_experiment
from timing import percentiles, run_over_sizes
from aiv.store.sqlite import SqliteExperimentStore

CLIPS = ("foreman", "akiyo", "mobile", "news", "bus", "city")


def clip_summary(rng: random.Random) -> ResultSummary:
    """A split summary as aiv.evaluate.summarise makes it, one clip's BD-rate resting on few points."""
    return ResultSummary(
        rng.uniform(-30, 60),
        rng.uniform(-10, 90),
        rng.uniform(-30, 60),
        {},
        {"bd_rate_x264_psnr_y": f"{CLIPS[0]}: from 3 test and 4 anchor points"},
    )


BENCHMARK = "bm-bench"  # every experiment of the benchmark's store belongs to one benchmark


def realistic_experiment(n: int, ids: list[str], rng: random.Random) -> Experiment:
    """Experiment number n, its parents drawn among earlier ones (favouring the first few, like the archive)."""
    parents = []
    if ids:
        pool = ids[:20] if rng.random() < 0.5 else ids
        parents = sorted(set(rng.choice(pool) for _ in range(rng.choice((1, 1, 2)))))
    record = new_experiment(
        run_id=f"run-{n // 50:04d}",
        proposer=rng.choice(("offline", "claude")),
        parents=parents,
        hypothesis=f"Replace the 8x8 DCT with an adaptive 16x16 transform, variant {n}. " * 3,
        code_sha256=f"{rng.getrandbits(256):064x}",
        model="claude-sonnet",
        experiment_id=f"exp-{n:016x}-{rng.getrandbits(24):06x}",
        benchmark=BENCHMARK,
    )
    outcome = rng.random()
    if outcome < 0.6:
        record = replace(
            record,
            status="succeeded",
            stage="record",
            score=rng.uniform(-30, 60),
            score_validation=rng.uniform(-30, 60),
            summary=Summaries(clip_summary(rng), clip_summary(rng)),
            result_key=f"results/{record.id}.json",
            clip_scores={clip: rng.uniform(-30, 60) for clip in CLIPS},
            best_point={
                "quality": 0.6,
                "kbps": rng.uniform(50, 5000),
                "psnr_y": rng.uniform(28, 45),
                "ssim_y": rng.uniform(0.9, 0.99),
                "vmaf": rng.uniform(60, 95),
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
                "clip": rng.choice(CLIPS),
                "quality": 0.5,
                "reason": "decode returned shape (9, 288, 352), expected (10, 288, 352)",
            },
        )
    elif outcome < 0.95:
        record = replace(
            record,
            status="rejected",
            stage="validate",
            attempts=[{"attempt": i, "stage": "validate", "reason": "forbidden import: os"} for i in range(3)],
        )
    else:
        record = replace(record, status=rng.choice(("proposed", "validating", "evaluating")))
    return replace(
        record,
        cost={
            "input_tokens": rng.randint(2000, 40000),
            "output_tokens": rng.randint(500, 8000),
            "llm_usd": rng.uniform(0, 0.5),
            "compute_s": rng.uniform(1, 600),
        },
        settings={
            "qualities": [0.2, 0.4, 0.6, 0.8],
            "frames": 30,
            "clips": list(CLIPS),
            "seed": n,
            "timeout_s": 600,
            "memory_mb": 4096,
            "anchors": ["x264", "x265"],
            "crf": [22, 27, 32, 37],
            "vmaf": True,
            "cascade": True,
        },
    )


def bench_size(size: int, repeats: int, folder: Path) -> None:
    """Seed one store of `size` experiments and print its timings."""
    rng = random.Random(size)
    store = SqliteExperimentStore(folder / f"bench-{size}.sqlite")
    ids: list[str] = []
    child_counts: Counter[str] = Counter()
    start = time.perf_counter()
    for n in range(size):
        record = realistic_experiment(n, ids, rng)
        store.create_experiment(record)
        ids.append(record.id)
        child_counts.update(record.parents)
    seed_s = time.perf_counter() - start

    cursor = None
    for _ in range(size // 2 // 50):
        cursor = store.list_experiments(limit=50, cursor=cursor).cursor
    popular, popular_count = child_counts.most_common(1)[0]
    by_count = sorted(child_counts, key=child_counts.__getitem__)
    typical = by_count[len(by_count) // 2]  # the parent with the median number of children
    counter = iter(range(10**9))
    calls = {
        "list_experiments(50) first page": lambda: store.list_experiments(limit=50),
        f"list_experiments(50) page at {size // 2}": lambda: store.list_experiments(limit=50, cursor=cursor),
        "list_experiments(succeeded, 50)": lambda: store.list_experiments(status="succeeded", limit=50),
        "best_experiments(10)": lambda: store.best_experiments(10, benchmark=BENCHMARK),
        "get_experiment": lambda: store.get_experiment(rng.choice(ids)),
        "count_by_status": store.count_by_status,
        f"children (typical: {child_counts[typical]})": lambda: store.children(typical),
        f"children (most-used parent: {popular_count})": lambda: store.children(popular),
        "update_experiment": lambda: store.update_experiment(rng.choice(ids), {"hypothesis": f"note {next(counter)}"}),
    }
    size_mb = (folder / f"bench-{size}.sqlite").stat().st_size / 1e6
    print(
        f"\n{size} experiments: seeded in {seed_s:.1f} s ({size / seed_s:.0f} creates/s), file {size_mb:.1f} MB (+ WAL)"
    )
    print(f"  {'call':<42} {'p50 ms':>8} {'p95 ms':>8}")
    for name, call in calls.items():
        p50, p95 = percentiles(call, repeats)
        print(f"  {name:<42} {p50:8.3f} {p95:8.3f}")
    store.close()


def main() -> None:
    run_over_sizes(__doc__.splitlines()[0], bench_size, default_repeats=200)


if __name__ == "__main__":
    main()
