"""Speed of the lab's PSNR, SSIM and VMAF on CIF frames, against scikit-image on the same frames.

    python bench/bench_metrics.py [--frames N] [--repeat R] [--clip PATH]

The reference is the first N frames of Foreman CIF from ../shared/clips when present (or of
--clip), otherwise synthetic camera-like CIF frames; the distorted copy is each frame through
JPEG at quality 30. Prints frames/s (median over R runs) and the largest per-frame difference
from scikit-image.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiv.metrics.quality import psnr_frames, ssim_frames, ssim_frames_torch  # noqa: E402
from aiv.metrics.vmaf import vmaf_available, vmaf_frames  # noqa: E402

FOREMAN = Path(__file__).resolve().parents[2] / "shared" / "clips" / "foreman_cif.264"
CIF = (288, 352)


def load_frames(clip: Path | None, frames: int) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], str]:
    """(y, u, v) of the reference and a description of where it came from."""
    path = clip or (FOREMAN if FOREMAN.exists() else None)
    if path is not None:
        from aiv.video.readers import read_clip

        read = read_clip(path, frames=frames)
        return (read.y, read.u, read.v), f"{path.name}, {read.frames} frames of {read.width}x{read.height}"
    rng = np.random.default_rng(0)
    height, width = CIF
    field = cv2.GaussianBlur(rng.normal(128, 60, (height, width + frames)), (0, 0), 3)
    field += rng.normal(0, 6, field.shape)
    y = np.stack([np.clip(field[:, t : t + width], 0, 255) for t in range(frames)]).astype(np.uint8)
    chroma = np.full((frames, height // 2, width // 2), 128, np.uint8)
    return (y, chroma, chroma.copy()), f"synthetic, {frames} frames of {width}x{height} (no shared clips)"


def jpeg(frames: np.ndarray, quality: int = 30) -> np.ndarray:
    return np.stack(
        [
            cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_GRAYSCALE)
            for f in frames
        ]
    )


def timed(function, repeat: int) -> tuple[float, np.ndarray]:
    """Median seconds over `repeat` calls, and the last result."""
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), np.asarray(result, dtype=np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--clip", type=Path, default=None, help="a clip to read instead of Foreman CIF")
    args = parser.parse_args()

    ref, source = load_frames(args.clip, args.frames)
    dist = (jpeg(ref[0]), ref[1], ref[2])
    count = ref[0].shape[0]
    print(f"frames: {source}; distorted: JPEG q30 on Y; median of {args.repeat} runs")

    def sk_psnr():
        return [peak_signal_noise_ratio(r, d, data_range=255) for r, d in zip(ref[0], dist[0])]

    def sk_ssim():
        return [
            structural_similarity(r, d, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
            for r, d in zip(ref[0], dist[0])
        ]

    rows = [
        ("PSNR-Y", "skimage", sk_psnr, None),
        ("PSNR-Y", "aiv psnr_frames", lambda: psnr_frames(ref[0], dist[0]), "PSNR-Y"),
        ("SSIM-Y", "skimage", sk_ssim, None),
        ("SSIM-Y", "aiv ssim_frames (cpu, OpenCV)", lambda: ssim_frames(ref[0], dist[0]), "SSIM-Y"),
        ("SSIM-Y", "aiv ssim_frames_torch (cpu)", lambda: ssim_frames_torch(ref[0], dist[0], "cpu"), "SSIM-Y"),
    ]
    import torch

    if torch.cuda.is_available():
        ssim_frames(ref[0][:2], dist[0][:2], device="cuda")  # warm up CUDA before timing
        rows.append(("SSIM-Y", "aiv ssim_frames (cuda)", lambda: ssim_frames(ref[0], dist[0], device="cuda"), "SSIM-Y"))

    print(f"{'metric':8} {'implementation':32} {'frames/s':>10} {'max |diff| to skimage':>22}")
    references = {}
    for metric, name, function, compare in rows:
        seconds, values = timed(function, args.repeat)
        if compare is None:
            references[metric] = values
            diff = ""
        else:
            diff = f"{np.abs(values - references[compare]).max():.3g}"
        print(f"{metric:8} {name:32} {count / seconds:10.1f} {diff:>22}")

    missing = vmaf_available()
    if missing:
        print(f"VMAF     not measured: {missing}")
        return
    seconds, values = timed(lambda: vmaf_frames(ref, dist, 30000 / 1001), args.repeat)
    print(f"{'VMAF':8} {'libvmaf (ffmpeg), with y4m I/O':32} {count / seconds:10.1f} {'mean %.2f' % values.mean():>22}")


if __name__ == "__main__":
    main()
