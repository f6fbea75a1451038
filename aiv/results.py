"""Reading evaluation records: the operating point an experiment is listed and previewed at.

Pure functions over the JSON records (no numpy, no PyAV), so the record step and the dashboard
use them in a Lambda as well as locally.
"""

from __future__ import annotations

from collections.abc import Sequence


def preview_quality_index(qualities: Sequence[float]) -> int:
    """Which quality point gets a preview: the middle-high one, index len(qualities) // 2."""
    if not qualities:
        raise ValueError("no quality points to choose a preview from")
    return len(qualities) // 2


def mean_preview_point(evaluation: dict | None) -> dict | None:
    """The operating point an experiment is listed with: its preview quality point, mean over the clips.

    {"quality", "kbps", "psnr_y", "ssim_y", "vmaf" (None unless every clip has it), "encode_fps",
    "decode_fps" (frames per second over every point of every clip)}; None without measured points.
    """
    clips = [c for c in (evaluation or {}).get("clips", []) if c.get("points")]
    if not clips or any(len(c["points"]) != len(clips[0]["points"]) for c in clips):
        return None
    index = preview_quality_index([p["quality"] for p in clips[0]["points"]])
    chosen = [c["points"][index] for c in clips]
    vmaf = [p.get("vmaf") for p in chosen]
    frames = sum(c["frames"] * len(c["points"]) for c in clips)
    encode_s = sum(p["encode_s"] for c in clips for p in c["points"])
    decode_s = sum(p["decode_s"] for c in clips for p in c["points"])
    return {
        "quality": chosen[0]["quality"],
        "kbps": _mean(p["kbps"] for p in chosen),
        "psnr_y": _mean(p["psnr_y"] for p in chosen),
        "ssim_y": _mean(p["ssim_y"] for p in chosen),
        "vmaf": _mean(vmaf) if all(v is not None for v in vmaf) else None,
        "encode_fps": frames / encode_s if encode_s > 0 else None,
        "decode_fps": frames / decode_s if decode_s > 0 else None,
    }


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def failure_text(failure: dict) -> str:
    """A failure record in words: "decode failed on clip foreman at quality 0.60 (train evaluation): <reason>"."""
    where = [
        f"on clip {failure['clip']}" if failure.get("clip") else "",
        f"at quality {failure['quality']:.2f}" if failure.get("quality") is not None else "",
        f"({failure['evaluation']} evaluation)" if failure.get("evaluation") else "",
    ]
    return (
        " ".join([f"{failure.get('stage') or 'an unknown stage'} failed", *filter(None, where)])
        + f": {failure.get('reason') or 'no reason was recorded'}"
    )
