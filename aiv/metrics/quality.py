"""Full-reference quality of 8-bit frames: PSNR (Y and YUV 6:1:1) and SSIM of Y.

Conventions:
- Every function takes uint8 planes [T, H, W] (reference first) and measures frame by frame;
  a clip's score is the mean over its frames, as x264 logs and the clips' README report it.
- A frame reproduced exactly has no finite PSNR; it reports PSNR_CAP_DB. The cap is a
  convention that keeps means and BD-rate finite, never a stand-in for a failed measurement.
  No inexact 8-bit frame under 150 megapixels can reach it (one error of 1 in N pixels is
  10*log10(255^2 * N) dB), so a capped frame always means an exact frame.
- SSIM is Wang et al. 2004 on Y exactly as scikit-image computes it with gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False, data_range=255: an 11-tap Gaussian window (truncated
  at 3.5 sigma), K1=0.01, K2=0.03, and the mean over the map with a 5-pixel border cropped. The
  cropped map never reads past the frame, so "valid" filtering gives the same numbers.
"""

from __future__ import annotations

import cv2
import numpy as np

PSNR_CAP_DB = 100.0
PEAK = 255.0
YUV_WEIGHTS = (6.0, 1.0, 1.0)  # Y, U, V, as in JVET/x265 "YUV PSNR"

SSIM_SIGMA = 1.5
SSIM_RADIUS = int(3.5 * SSIM_SIGMA + 0.5)  # scikit-image/ndimage truncation: 5, an 11-tap window
SSIM_K1, SSIM_K2 = 0.01, 0.03
_SSIM_C1 = (SSIM_K1 * PEAK) ** 2
_SSIM_C2 = (SSIM_K2 * PEAK) ** 2
_SSIM_CHUNK_PIXELS = 1 << 21  # frames per chunk are chosen to keep about this many pixels in flight

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


def _check_pair(ref: np.ndarray, dist: np.ndarray, what: str) -> None:
    """Raise ValueError unless `ref` and `dist` are uint8 [T, H, W] of one shape with T >= 1."""
    for name, array in (("reference", ref), ("distorted", dist)):
        if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != 3:
            kind = (
                f"{array.dtype} array of shape {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
            )
            raise ValueError(f"{what}: {name} must be a uint8 [T, H, W] array, got a {kind}")
    if ref.shape != dist.shape:
        raise ValueError(f"{what}: reference shape {ref.shape} differs from distorted shape {dist.shape}")
    if 0 in ref.shape:
        raise ValueError(f"{what}: empty planes of shape {ref.shape}")


def psnr_frames(ref: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Per-frame PSNR in dB (float64 [T]) of uint8 planes [T, H, W], peak 255, capped at PSNR_CAP_DB."""
    _check_pair(ref, dist, "PSNR")
    ref, dist = np.ascontiguousarray(ref), np.ascontiguousarray(dist)
    pixels = ref.shape[1] * ref.shape[2]
    # cv2.norm sums squared uint8 differences exactly and fast; the sum is exact in float64 up to 2^53.
    mse = np.array([cv2.norm(r, d, cv2.NORM_L2SQR) for r, d in zip(ref, dist)], dtype=np.float64) / pixels
    psnr = np.full(mse.shape, PSNR_CAP_DB)
    lossy = mse > 0
    psnr[lossy] = np.minimum(10.0 * np.log10(PEAK * PEAK / mse[lossy]), PSNR_CAP_DB)
    return psnr


def psnr_y(ref_y: np.ndarray, dist_y: np.ndarray) -> float:
    """Mean over frames of the per-frame PSNR of Y in dB."""
    return float(np.mean(psnr_frames(ref_y, dist_y)))


def psnr_yuv_frames(ref: Planes, dist: Planes) -> np.ndarray:
    """Per-frame (6*PSNR_Y + PSNR_U + PSNR_V) / 8 in dB, from (y, u, v) planes of reference and distorted."""
    if len(ref) != 3 or len(dist) != 3:
        raise ValueError(f"PSNR-YUV: expected (y, u, v) planes, got {len(ref)} and {len(dist)} planes")
    per_plane = [psnr_frames(r, d) for r, d in zip(ref, dist)]
    if len({p.shape for p in per_plane}) != 1:
        raise ValueError(f"PSNR-YUV: planes have different frame counts {[p.shape[0] for p in per_plane]}")
    return sum(w * p for w, p in zip(YUV_WEIGHTS, per_plane)) / sum(YUV_WEIGHTS)


def psnr_yuv(ref: Planes, dist: Planes) -> float:
    """Mean over frames of the per-frame 6:1:1 YUV PSNR in dB."""
    return float(np.mean(psnr_yuv_frames(ref, dist)))


def ssim_frames(ref_y: np.ndarray, dist_y: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Per-frame SSIM (float64 [T]) of uint8 Y planes [T, H, W]; H and W must be at least 11.

    `device="cpu"` filters with OpenCV (the fastest CPU path measured, see bench/bench_metrics.py);
    any other torch device ("cuda", "cuda:1", ...) runs `ssim_frames_torch` there.
    """
    if device == "cpu":
        _check_ssim_input(ref_y, dist_y)
        return _chunked(ref_y, dist_y, _ssim_cv2)
    return ssim_frames_torch(ref_y, dist_y, device)


def ssim_frames_torch(ref_y: np.ndarray, dist_y: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Per-frame SSIM as `ssim_frames`, computed with torch on `device` (in float64, like the CPU path)."""
    import torch  # deferred: torch is heavy and only this path needs it

    _check_ssim_input(ref_y, dist_y)
    target = torch.device(device)
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"SSIM: device {device!r} asked for, but torch sees no CUDA device")
    window = torch.from_numpy(_gaussian_window()).to(target)
    tall, wide = window.view(1, 1, -1, 1), window.view(1, 1, 1, -1)

    def chunk_ssim(ref: np.ndarray, dist: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(ref).to(target, torch.float64)
        y = torch.from_numpy(dist).to(target, torch.float64)
        frames, height, width = x.shape
        stack = torch.stack([x, y, x * x, y * y, x * y], dim=1).reshape(frames * 5, 1, height, width)
        filtered = torch.nn.functional.conv2d(torch.nn.functional.conv2d(stack, tall), wide)
        filtered = filtered.reshape(frames, 5, height - 2 * SSIM_RADIUS, width - 2 * SSIM_RADIUS)
        return _ssim_map(*filtered.unbind(dim=1)).mean(dim=(1, 2)).cpu().numpy()

    return _chunked(ref_y, dist_y, chunk_ssim)


def ssim_y(ref_y: np.ndarray, dist_y: np.ndarray, device: str = "cpu") -> float:
    """Mean over frames of the per-frame SSIM of Y."""
    return float(np.mean(ssim_frames(ref_y, dist_y, device)))


def _check_ssim_input(ref_y: np.ndarray, dist_y: np.ndarray) -> None:
    _check_pair(ref_y, dist_y, "SSIM")
    side = 2 * SSIM_RADIUS + 1
    if min(ref_y.shape[1:]) < side:
        raise ValueError(f"SSIM: frames of {ref_y.shape[2]}x{ref_y.shape[1]} are smaller than the {side}x{side} window")


def _gaussian_window() -> np.ndarray:
    """The normalised 1-D Gaussian taps scipy.ndimage uses for sigma 1.5, truncate 3.5."""
    offsets = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    return taps / taps.sum()


def _chunked(ref: np.ndarray, dist: np.ndarray, per_chunk) -> np.ndarray:
    """Apply `per_chunk(ref[a:b], dist[a:b]) -> [b-a]` over frame chunks of about _SSIM_CHUNK_PIXELS pixels."""
    frames, height, width = ref.shape
    step = max(1, _SSIM_CHUNK_PIXELS // (height * width))
    return np.concatenate(
        [per_chunk(ref[start : start + step], dist[start : start + step]) for start in range(0, frames, step)]
    ).astype(np.float64)


def _ssim_cv2(ref: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Per-frame SSIM of one chunk, filtering the frames stacked as one tall float64 image.

    Stacking is exact: the rows kept after cropping are at least SSIM_RADIUS rows from their
    frame's edges, so the vertical window never reaches into a neighbouring frame.
    """
    frames, height, width = ref.shape
    x = ref.reshape(frames * height, width).astype(np.float64)
    y = dist.reshape(frames * height, width).astype(np.float64)
    taps = _gaussian_window()
    keep = (slice(None), slice(SSIM_RADIUS, height - SSIM_RADIUS), slice(SSIM_RADIUS, width - SSIM_RADIUS))
    filtered = [
        cv2.sepFilter2D(plane, cv2.CV_64F, taps, taps, borderType=cv2.BORDER_REFLECT).reshape(frames, height, width)[
            keep
        ]
        for plane in (x, y, x * x, y * y, x * y)
    ]
    return _ssim_map(*filtered).mean(axis=(1, 2))


def _ssim_map(mu_x, mu_y, xx, yy, xy):
    """The SSIM map from windowed means of x, y, x^2, y^2 and xy (numpy arrays or torch tensors)."""
    mu_xy = mu_x * mu_y
    var_x = xx - mu_x * mu_x
    var_y = yy - mu_y * mu_y
    cov = xy - mu_xy
    return (
        (2 * mu_xy + _SSIM_C1)
        * (2 * cov + _SSIM_C2)
        / ((mu_x * mu_x + mu_y * mu_y + _SSIM_C1) * (var_x + var_y + _SSIM_C2))
    )
