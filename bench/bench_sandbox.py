"""Benchmark what each kind of codec sandbox costs: building its filesystem view, and one sandboxed call.

Prints the time to work out the view (once per lab process: ldd over the codec packages' native code)
and p50/p95 milliseconds of one encode of a numpy-only codec (interpreter start, numpy import, the
call, the exit) under each isolation this machine can run: root jail (as root), bwrap, audit hook only.

    .venv/bin/python bench/bench_sandbox.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from timing import percentiles

from aiv.codec import isolation, sandbox, view
from aiv.codec.sandbox import run_encode

CODEC = "import numpy as np\ndef encode(y, u, v, fps, quality):\n    return y.tobytes()\ndef decode(b):\n    pass\n"
KINDS = {
    "root jail": isolation.Isolation(True, True, True),
    "bwrap": isolation.Isolation(False, False, True, bwrap=True),
    "audit hook only": isolation.Isolation(False, False, False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    start = time.perf_counter()
    found = view.codec_view()
    print(
        f"view: {len(found.read_only)} read-only paths, {len(found.symlinks)} symlinks, "
        f"built in {time.perf_counter() - start:.2f} s"
    )
    planes = [np.zeros((2, 16, 16), np.uint8), np.zeros((2, 8, 8), np.uint8), np.zeros((2, 8, 8), np.uint8)]
    for name, kind in KINDS.items():
        try:
            sandbox._probe(kind)
        except isolation.SandboxError as exc:
            print(f"{name:16s} unavailable here: {exc}")
            continue
        sandbox._isolation = lambda kind=kind: kind
        p50, p95 = percentiles(lambda: run_encode(CODEC, *planes, 25.0, 0.5), args.repeats)
        print(f"{name:16s} one sandboxed encode: p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")


if __name__ == "__main__":
    main()
