"""Time a full evaluation on the built-in corpus, split into codec time and harness time.

    python bench/bench_evaluate.py [--codec hybrid] [--baseline intra] [--frames 30] [--repeat 3] [--vmaf]

Harness parts: building the corpus clips, sandbox overhead (wall time of each sandboxed encode
and decode minus the codec's own seconds: process start, imports, moving planes), metrics
(PSNR, SSIM, VMAF), and anchors (x264/x265 encodes and their metrics, with an empty cache).
Codec time is the harness-measured encode and decode seconds. Prints medians over repeats,
for the codec and a baseline codec in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import aiv.evaluate as evaluation
from aiv.codec.contract import load_codec
from aiv.evaluate import EvalSettings, evaluate
from aiv.video.corpus import TRAIN_NAMES, builtin_corpus, new_secret


@contextmanager
def timed_calls(totals: dict, name: str, module, attribute: str, active: list | None = None):
    """Add the wall seconds of every call of module.attribute to totals[name].

    While a call runs, `name` is on the `active` stack, so a nested timer can tell who called it.
    """
    original = getattr(module, attribute)
    stack = active if active is not None else []

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        stack.append(name)
        try:
            return original(*args, **kwargs)
        finally:
            stack.pop()
            key = f"{name} in {stack[-1]}" if stack else name
            totals[key] = totals.get(key, 0.0) + time.perf_counter() - started

    setattr(module, attribute, wrapper)
    try:
        yield
    finally:
        setattr(module, attribute, original)


def one_evaluation(codec_name: str, frames: int, vmaf: bool, secret: bytes | None = None, device: str = "cpu") -> dict:
    """Seconds of each part of one evaluation on `device`, from a cold anchor cache, on the corpus `secret` renders
    (default: a new one)."""
    totals: dict = {}
    started = time.perf_counter()
    clips = builtin_corpus(frames=frames, secret=secret or new_secret(), names=TRAIN_NAMES)
    totals["clips"] = time.perf_counter() - started
    active: list = []
    with (
        tempfile.TemporaryDirectory() as cache,
        timed_calls(totals, "sandbox_encode", evaluation, "run_encode"),
        timed_calls(totals, "sandbox_decode", evaluation, "run_decode"),
        timed_calls(totals, "anchors", evaluation, "anchor_points", active),
        timed_calls(totals, "metrics", evaluation, "measure_quality", active),
    ):
        record = evaluate(
            load_codec(codec_name),
            clips,
            EvalSettings(vmaf=vmaf, cache_dir=Path(cache), device=device),
            show_progress=False,
        )
    totals["total"] = time.perf_counter() - started
    if record["status"] != "ok":
        raise SystemExit(f"{codec_name} failed: {record['failure']}")
    points = [p for clip in record["clips"] for p in clip["points"]]
    codec_s = sum(p["encode_s"] + p["decode_s"] for p in points)
    return {
        "codec": codec_s,
        "sandbox overhead": totals["sandbox_encode"] + totals["sandbox_decode"] - codec_s,
        "metrics (codec points)": totals["metrics"],
        "anchors: encode+decode": totals["anchors"] - totals["metrics in anchors"],
        "anchors: metrics": totals["metrics in anchors"],
        "clips": totals["clips"],
        "total": totals["total"],
        "headline": record["summary"]["bd_rate_x264_psnr_y"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec", default="hybrid")
    parser.add_argument("--baseline", default="intra")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--vmaf", action="store_true")
    args = parser.parse_args()
    runs = {
        name: [one_evaluation(name, args.frames, args.vmaf) for _ in range(args.repeat)]
        for name in (args.codec, args.baseline)
    }
    parts = [k for k in next(iter(runs.values()))[0] if k != "headline"]
    print(
        f"built-in corpus, {args.frames} frames per clip, 4 quality points, VMAF {'on' if args.vmaf else 'off'}; "
        f"median seconds of {args.repeat} runs"
    )
    print(f"{'part':<26}" + "".join(f"{name:>12}" for name in runs))
    for part in parts:
        print(f"{part:<26}" + "".join(f"{statistics.median(r[part] for r in rs):>12.2f}" for rs in runs.values()))
    print(f"{'headline BD-rate vs x264':<26}" + "".join(f"{rs[0]['headline']:>+11.1f}%" for rs in runs.values()))


if __name__ == "__main__":
    main()
