"""Speed of the `hybrid` seed against other versions of it (default: the seed before the standard tools), in one run.

    python bench/bench_codec.py [--old-ref d6ddbbf [--old-ref main ...]] [--frames 30] [--repeat 3] [--corpus-frames 30] [--no-corpus]

Prints, for each version (every `--old-ref`, then this tree): encode and decode frames/s at CIF (the first frames of
../shared/clips/foreman_cif.264 when it is there, else the built-in corpus's first clip scaled to
352x288) at quality 0.5, in process, median of `--repeat`; then the process CPU seconds of encoding and
decoding the built-in train clips at the default qualities in process (one rendering shared by every version,
median of `--repeat`: steadier than wall time on a shared machine); then the full sandboxed evaluation of
the built-in corpus (4 quality points, no VMAF) in seconds, median of `--repeat` (repeat i of every version
on the same i-th rendering), with its headline BD-rate. The old versions are read with
`git show REF:aiv/codec/builtin/hybrid.py` at run time.

Where torch finds a CUDA device, this tree's hybrid is measured again with DEVICE = "cuda" (its motion
search on the GPU): the CIF frames/s, and the sandboxed corpus evaluation with `device="cuda"` (CUDA
started before each codec clock). Without one it says so and measures the CPU only.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
from bench_evaluate import one_evaluation

from aiv.settings import DEFAULT_QUALITIES
from aiv.video.corpus import TRAIN_NAMES, builtin_corpus, new_secret
from aiv.video.readers import read_clip

PREVIOUS_SEED = "d6ddbbf"  # the last commit whose hybrid had one reference, no B frames and no intra prediction
ROOT = Path(__file__).resolve().parents[1]
FOREMAN = ROOT.parent / "shared" / "clips" / "foreman_cif.264"
CIF = (288, 352)


def load_module(path: Path, name: str) -> ModuleType:
    """A codec module from a file, importable under `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def cif_frames(frames: int) -> tuple[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(description, (y, u, v)) of `frames` CIF frames: foreman when the shared clips are there."""
    if FOREMAN.exists():
        clip = read_clip(FOREMAN, frames=frames)
        return f"foreman_cif, {clip.y.shape[0]} frames", (clip.y, clip.u, clip.v)
    clip = builtin_corpus(frames=frames)[0]
    h, w = CIF

    def scaled(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        return np.stack([cv2.resize(f, (size[1], size[0]), interpolation=cv2.INTER_AREA) for f in plane])

    return f"built-in {clip.name} scaled to 352x288, {frames} frames", (
        scaled(clip.y, (h, w)),
        scaled(clip.u, (h // 2, w // 2)),
        scaled(clip.v, (h // 2, w // 2)),
    )


def codec_speed(module: ModuleType, planes: tuple[np.ndarray, ...], repeat: int) -> tuple[float, float, int]:
    """Median encode and decode frames/s at quality 0.5, and the bitstream's bytes."""
    frames = planes[0].shape[0]
    encode_s, decode_s = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        bits = module.encode(*planes, 30.0, 0.5)
        encode_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        module.decode(bits)
        decode_s.append(time.perf_counter() - started)
    return frames / statistics.median(encode_s), frames / statistics.median(decode_s), len(bits)


def corpus_cpu(module: ModuleType, clips: list, repeat: int) -> tuple[float, float]:
    """Median process CPU seconds of encoding and of decoding every clip at every default quality."""
    encode_s, decode_s = [], []
    for _ in range(repeat):
        encode_total = decode_total = 0.0
        for clip in clips:
            for quality in DEFAULT_QUALITIES:
                started = time.process_time()
                bits = module.encode(clip.y, clip.u, clip.v, 30.0, quality)
                encode_total += time.process_time() - started
                started = time.process_time()
                module.decode(bits)
                decode_total += time.process_time() - started
        encode_s.append(encode_total)
        decode_s.append(decode_total)
    return statistics.median(encode_s), statistics.median(decode_s)


def print_evaluation(label: str, path: Path, frames: int, secrets: list[bytes], device: str) -> None:
    """One row: median total and codec seconds of the sandboxed corpus evaluation on each rendering, and the headline."""
    runs = [one_evaluation(str(path), frames, vmaf=False, secret=secret, device=device) for secret in secrets]
    total = statistics.median(r["total"] for r in runs)
    codec = statistics.median(r["codec"] for r in runs)
    print(f"{label:<22}{total:>10.1f}{codec:>10.1f}{runs[0]['headline']:>+16.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--old-ref",
        action="append",
        help=f"git revision of a version to compare with, may be repeated (default {PREVIOUS_SEED}: the "
        "seed before the standard coding tools)",
    )
    parser.add_argument("--frames", type=int, default=30, help="CIF frames for the frames/s figures")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--corpus-frames", type=int, default=30, help="frames per clip of the corpus evaluation")
    parser.add_argument(
        "--no-corpus",
        action="store_true",
        help="skip both corpus measurements (CPU seconds and the sandboxed evaluation)",
    )
    args = parser.parse_args()
    old_sources = {}
    for ref in args.old_ref or [PREVIOUS_SEED]:
        try:
            old_sources[ref] = subprocess.run(
                ["git", "show", f"{ref}:aiv/codec/builtin/hybrid.py"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        except subprocess.CalledProcessError as exc:
            raise SystemExit(f"cannot read hybrid.py at {ref}: {exc.stderr.strip()}") from exc
    import torch

    cuda = torch.cuda.is_available()
    print(
        f"CUDA: {torch.cuda.get_device_name(0)}, this tree's hybrid measured on it too"
        if cuda
        else f"CUDA: none (torch {torch.__version__} finds no CUDA device): the CUDA path is not measured"
    )
    with tempfile.TemporaryDirectory() as folder:
        versions = {}
        for index, (ref, source) in enumerate(old_sources.items()):
            versions[f"hybrid@{ref}"] = Path(folder) / f"hybrid_old_{index}.py"
            versions[f"hybrid@{ref}"].write_text(source)
        versions["hybrid (this tree)"] = ROOT / "aiv" / "codec" / "builtin" / "hybrid.py"
        what, planes = cif_frames(args.frames)
        print(f"CIF speed on {what}, quality 0.5, median of {args.repeat}")
        print(f"{'version':<22}{'encode fps':>12}{'decode fps':>12}{'bytes':>10}")
        modules = {
            label: load_module(path, f"bench_hybrid_{index}") for index, (label, path) in enumerate(versions.items())
        }
        for label, module in modules.items():
            enc, dec, size = codec_speed(module, planes, args.repeat)
            print(f"{label:<22}{enc:>12.2f}{dec:>12.2f}{size:>10}")
        if cuda:
            on_gpu = load_module(versions["hybrid (this tree)"], "bench_hybrid_cuda")
            on_gpu.DEVICE = "cuda"
            torch.zeros(1, device="cuda")  # CUDA's start-up, which the sandbox does before the codec's clock
            enc, dec, size = codec_speed(on_gpu, planes, args.repeat)
            print(f"{'hybrid (tree, cuda)':<22}{enc:>12.2f}{dec:>12.2f}{size:>10}")
        if args.no_corpus:
            return
        clips = builtin_corpus(frames=args.corpus_frames, secret=new_secret(), names=TRAIN_NAMES)
        print(
            f"in-process CPU seconds over the built-in train clips, {args.corpus_frames} frames each, qualities "
            f"{', '.join(f'{q:g}' for q in DEFAULT_QUALITIES)}, median of {args.repeat}"
        )
        print(f"{'version':<22}{'encode s':>10}{'decode s':>10}{'sum s':>10}")
        for label, module in modules.items():
            enc, dec = corpus_cpu(module, clips, args.repeat)
            print(f"{label:<22}{enc:>10.2f}{dec:>10.2f}{enc + dec:>10.2f}")
        print(
            f"full sandboxed evaluation of the built-in corpus, {args.corpus_frames} frames per clip, "
            f"VMAF off, median of {args.repeat}"
        )
        print(f"{'version':<22}{'total s':>10}{'codec s':>10}{'BD-rate vs x264':>17}")
        secrets = [new_secret() for _ in range(args.repeat)]  # every version is evaluated on the same renderings
        for label, path in versions.items():
            print_evaluation(label, path, args.corpus_frames, secrets, "cpu")
        if cuda:
            print_evaluation("hybrid (tree, cuda)", versions["hybrid (this tree)"], args.corpus_frames, secrets, "cuda")


if __name__ == "__main__":
    main()
