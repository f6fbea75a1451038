"""Benchmark the dashboard's pages at 100, 1,000 and 10,000 experiments.

Seeds a store of each size with tests/web_seed.py's seed_huge (a realistic mix of outcomes,
lineage, summaries and costs, full results for the best experiments), then renders every page
through Dashboard.handle, the same call `aiv serve` and the Lambda make, and prints p50/p95 ms:

    .venv/bin/python bench/bench_dashboard.py [--sizes 100 1000 10000] [--repeats 30]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from aiv.web.app import Dashboard, Request  # noqa: E402
from web_seed import seed_huge  # noqa: E402

from timing import percentiles, run_over_sizes  # noqa: E402


def render(dashboard: Dashboard, url: str) -> bytes:
    """The page at `url`; RuntimeError unless it is a 200."""
    parts = urlsplit(url)
    response = dashboard.handle(Request("GET", parts.path, dict(parse_qsl(parts.query))))
    if response.status != 200:
        raise RuntimeError(f"{url} answered {response.status}")
    return response.body


def bench_size(size: int, repeats: int, folder: Path) -> None:
    """Seed one store of `size` experiments and print each page's timings."""
    start = time.perf_counter()
    store = seed_huge(folder / f"store-{size}", count=size, materialised=min(40, size // 5))
    seed_s = time.perf_counter() - start
    dashboard = Dashboard(store.experiments, store.artifacts)
    middle = store.experiments.list_experiments(limit=size // 2).cursor
    pages = {
        "overview /": "/",
        "experiments, newest": "/experiments",
        f"experiments, page at {size // 2}": f"/experiments?cursor={middle}",
        "experiments, failed only": "/experiments?status=failed",
        "experiments, by score": "/experiments?sort=score",
        "experiment (best, full result)": f"/experiments/{store.ids['best']}",
        "leaderboard (+ Pareto)": "/leaderboard",
        "costs": "/costs",
        "activity": "/activity",
    }
    print(f"\n{size} experiments (seeded in {seed_s:.1f} s)")
    print(f"  {'page':<36} {'p50 ms':>8} {'p95 ms':>8} {'KiB':>7}")
    for name, url in pages.items():
        size_kib = len(render(dashboard, url)) / 1024
        p50, p95 = percentiles(lambda: render(dashboard, url), repeats)
        print(f"  {name:<36} {p50:8.1f} {p95:8.1f} {size_kib:7.0f}")
    store.close()


def main() -> None:
    run_over_sizes(__doc__.splitlines()[0], bench_size, default_repeats=30)


if __name__ == "__main__":
    main()
