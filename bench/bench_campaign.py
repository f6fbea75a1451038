"""An offline campaign on the built-in corpus: does the search improve on its seed, and where does time go?

    python bench/bench_campaign.py [--iterations 20] [--parallel 2] [--frames 20] [--seed 0] [--store DIR]

Prints, per finished candidate in completion order: its status and train score, the best train
and validation scores so far, and its seconds in propose, validate, evaluate and record; then the
rejected attempts (early stops at the cascade stage and duplicates among them) with the
encode/decode points the early stops did not run, the improvement over the `hybrid` seed and the
median seconds per step. Everything is measured.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from aiv.codec.contract import builtin_source
from aiv.local import open_local_lab
from aiv.runner import CampaignRun, RunOptions
from aiv.settings import CampaignSettings

STEPS = ("propose", "validate", "evaluate", "record")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store", help="store folder (default: a temporary one)")
    args = parser.parse_args()
    store = Path(args.store or tempfile.mkdtemp(prefix="aiv-bench-campaign-"))
    lab = open_local_lab(store, CampaignSettings(frames=args.frames), cache_dir=store / "anchors")
    run = CampaignRun(
        lab,
        RunOptions(iterations=args.iterations, proposer="offline", parallel=args.parallel, random_seed=args.seed),
        report=lambda line: print(line, file=sys.stderr, flush=True),
    )
    outcomes = run.execute()
    experiments = {o.experiment_id: lab.experiments.get_experiment(o.experiment_id) for o in outcomes}
    seed = next(
        e
        for e in lab.experiments.find_by_code(builtin_source("hybrid").sha256)
        if e.benchmark == lab.benchmark_id and e.status == "succeeded"
    )
    print(
        f"offline campaign: {args.iterations} iterations, {args.parallel} at once, {args.frames} frames per clip, "
        f"store {store}"
    )
    print(f"hybrid seed: train {_pct(seed.score)}, validation {_pct(seed.score_validation)} (BD-rate vs x264, PSNR-Y)")
    print(
        f"{'#':>3} {'status':<10}{'train':>10}{'best train':>12}{'best valid.':>12}"
        + "".join(f"{step:>10}" for step in STEPS)
    )
    best_train = best_validation = None
    candidates = [o for o in outcomes if experiments[o.experiment_id].proposer != "builtin"]
    for number, outcome in enumerate(candidates, start=1):
        experiment = experiments[outcome.experiment_id]
        if experiment.score is not None:
            best_train = min(experiment.score, best_train if best_train is not None else seed.score)
        if experiment.score_validation is not None:
            best_validation = min(
                experiment.score_validation, best_validation if best_validation is not None else seed.score_validation
            )
        print(
            f"{number:>3} {outcome.status:<10}{_pct(experiment.score):>10}{_pct(best_train):>12}"
            f"{_pct(best_validation):>12}" + "".join(f"{outcome.seconds.get(step, 0.0):>10.1f}" for step in STEPS)
        )
    attempts = [a for o in candidates for a in experiments[o.experiment_id].attempts]
    stops = [a for a in attempts if "saved_points" in a]
    full = len(lab.settings.qualities) * (len(lab.settings.train_clips) + len(lab.settings.validation_clips))
    print(
        f"{len(attempts)} rejected attempts: {len(stops)} stopped early at the cascade stage, "
        f"{sum(a['stage'] == 'duplicate' for a in attempts)} duplicates; the early stops left "
        f"{sum(a['saved_points'] for a in stops)} encode/decode points unrun ({full} in a full evaluation)"
    )
    succeeded = sum(o.status == "succeeded" for o in candidates)
    print(
        f"{succeeded} of {len(candidates)} candidates succeeded; best train {_pct(best_train)} vs seed "
        f"{_pct(seed.score)}; best validation {_pct(best_validation)} vs seed {_pct(seed.score_validation)}"
    )
    print(
        "median seconds per candidate: "
        + ", ".join(f"{step} {statistics.median(o.seconds.get(step, 0.0) for o in candidates):.1f}" for step in STEPS)
    )


if __name__ == "__main__":
    main()
