"""A campaign's settings, in one place, with the defaults `aiv run` and the AWS app use.

Plain constants only: Lambda handlers import this without numpy, PyAV or torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


DEFAULT_QUALITIES: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)
SMOKE_SIZE = (96, 64)  # width, height of the tiny clip the evaluate step first runs every candidate on
SMOKE_FRAMES = 6
CASCADE_FRAMES = 8  # the evaluation's first, cheap stage: this many frames of the first train clip
RD_DUPLICATE_KBPS_REL = 0.002  # two smoke RD signatures closer than this (relative rate) ...
RD_DUPLICATE_PSNR_DB = 0.01  # ... and this (dB at every point) are the same codec in behaviour


@dataclass(frozen=True)
class CampaignSettings:
    """How candidates are evaluated in a campaign, and which clips train and validate."""

    qualities: tuple[float, ...] = DEFAULT_QUALITIES
    frames: int = 30  # frames of each corpus clip
    # each clip is a built-in corpus name or a clip file path; the built-in validation clips are the
    # train clips' kinds of content again, from other photographs (aiv/video/corpus.py)
    train_clips: tuple[str, ...] = ("pan_zoom", "moving_object", "light_cut", "noisy_static")
    validation_clips: tuple[str, ...] = ("val_pan_zoom", "val_moving_object", "val_light_cut", "val_noisy_static")
    vmaf: bool = False
    timeout_s: float = 300.0
    memory_mb: int = 4096
    anchors: tuple[str, ...] = ("x264", "x265")

    def as_record(self) -> dict:
        """The settings as stored with each experiment."""
        return asdict(self)
