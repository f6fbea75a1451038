"""A campaign's settings, in one place, with the defaults `aiv run` and the AWS app use.

Plain constants and checks only: Lambda handlers import this without numpy, PyAV or torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from aiv.errors import UsageError

DEFAULT_QUALITIES: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)
SMOKE_SIZE = (96, 64)  # width, height of the tiny clip the evaluate step first runs every candidate on
SMOKE_FRAMES = 6
CASCADE_FRAMES = 8  # the evaluation's first, cheap stage: this many frames of the first train clip
EARLY_STOP_BD_RATE = 10.0  # a candidate this many percent BD-rate (PSNR-Y) worse than its parent on the
# cascade stage's frames is stopped there, before the full evaluation
DEFAULT_ANCHOR_CRFS: tuple[int, ...] = (22, 27, 32, 37)  # x264/x265 CRF points of the anchors
DEFAULT_ANCHOR_PRESET = "medium"
# the speed presets x264 and x265 both know, fastest first
ANCHOR_PRESETS: tuple[str, ...] = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
MAX_CRF = 51  # x264's and x265's CRF scale for 8-bit video is 0..51


def check_anchor_options(crfs: tuple[int, ...], preset: str) -> None:
    """Raise UsageError unless `crfs` are at least two distinct increasing CRFs in 0..51 and `preset` is known."""
    if preset not in ANCHOR_PRESETS:
        raise UsageError(f"unknown anchor preset {preset!r}; known: {', '.join(ANCHOR_PRESETS)}")
    shown = ",".join(str(crf) for crf in crfs)
    if len(crfs) < 2:
        raise UsageError(f"anchor CRFs need at least two points for a BD-rate, got {shown or 'none'}")
    if any(not isinstance(crf, int) or not 0 <= crf <= MAX_CRF for crf in crfs):
        raise UsageError(f"anchor CRFs must be whole numbers in 0..{MAX_CRF}, got {shown}")
    if list(crfs) != sorted(set(crfs)):
        raise UsageError(f"anchor CRFs must be distinct and increasing, got {shown}")


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
    anchor_crfs: tuple[int, ...] = DEFAULT_ANCHOR_CRFS
    anchor_preset: str = DEFAULT_ANCHOR_PRESET

    def __post_init__(self) -> None:
        check_anchor_options(self.anchor_crfs, self.anchor_preset)

    def as_record(self) -> dict:
        """The settings as stored with each experiment."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict) -> CampaignSettings:
        """The settings `as_record` stored (JSON lists back to tuples); a field the record lacks (an older
        record) takes its default."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in record.items() if k in known})
