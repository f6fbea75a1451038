"""Rate, measured by the harness from the bitstream's length alone."""

from __future__ import annotations


def kbps(num_bytes: int, fps: float, frames: int) -> float:
    """Bitrate in kbit/s of `num_bytes` carrying `frames` frames at `fps`: bytes * 8 * fps / frames / 1000."""
    if frames <= 0 or fps <= 0:
        raise ValueError(f"kbps needs positive frames and fps, got frames={frames} fps={fps}")
    return num_bytes * 8.0 * fps / frames / 1000.0
