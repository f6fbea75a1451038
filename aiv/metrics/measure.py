"""One place that turns (source clip, decoded planes) into the lab's quality numbers."""

from __future__ import annotations

import numpy as np

from aiv.metrics.quality import psnr_frames, psnr_yuv_frames, ssim_frames
from aiv.metrics.vmaf import vmaf_frames
from aiv.video.clip import Clip

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


def measure_quality(clip: Clip, decoded: Planes, with_vmaf: bool, device: str = "cpu") -> dict:
    """PSNR-Y, PSNR-YUV (6:1:1), SSIM-Y and VMAF (None when not asked for) of `decoded` against `clip`.

    Also returns the per-frame PSNR-Y as `psnr_y_frames`, for per-frame charts.
    """
    source = (clip.y, clip.u, clip.v)
    per_frame_y = psnr_frames(clip.y, decoded[0])
    return {
        "psnr_y": float(np.mean(per_frame_y)),
        "psnr_yuv": float(np.mean(psnr_yuv_frames(source, decoded))),
        "ssim_y": float(np.mean(ssim_frames(clip.y, decoded[0], device=device))),
        "vmaf": float(np.mean(vmaf_frames(source, decoded, clip.fps))) if with_vmaf else None,
        "psnr_y_frames": [round(float(value), 4) for value in per_frame_y],
    }
