"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def percentiles(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    """p50 and p95 of `call`'s wall time in milliseconds over `repeats` calls (after one warm-up)."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    cuts = statistics.quantiles(times, n=20)
    return statistics.median(times), cuts[18]


def run_over_sizes(description: str, bench_size: Callable[[int, int, Path], None], default_repeats: int) -> None:
    """The command line of a store-size benchmark: `--sizes N...` and `--repeats R`, each size in a fresh folder."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10_000])
    parser.add_argument("--repeats", type=int, default=default_repeats)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            bench_size(size, args.repeats, Path(folder))
