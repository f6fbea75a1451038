"""What every proposer takes and gives: the archive view it is shown, and the candidate it writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from aiv.errors import AivError


@dataclass(frozen=True)
class LineageStep:
    """One ancestor of a program: what it tried, its score and its per-clip BD-rates (percent, vs x264),
    and the same of its own parent (None for a seed or an unscored parent), so a prompt can show the change."""

    experiment_id: str
    hypothesis: str
    score: float | None
    clip_scores: dict[str, float | None]
    parent_score: float | None = None
    parent_clip_scores: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ArchiveEntry:
    """One archived program as a prompt shows it.

    `score` is the headline BD-rate vs x264 on PSNR-Y in percent (lower is better), or None.
    `clips` is a compact copy of the evaluation record's clips (may be empty): per clip
    {"name", "source", "width", "height", "frames", "fps", "bd_rate": {...},
    "points": [{"quality", "kbps", "psnr_y", "psnr_yuv", "ssim_y", "vmaf", "encode_s", "decode_s",
    "psnr_y_frames"}], "anchors": {"x264": [{"crf", "kbps", "psnr_y"}, ...], "x265": [...]}}.
    `lineage` is the program itself, then its parent, and so on (newest first; may be empty).
    """

    experiment_id: str
    code: str
    hypothesis: str
    score: float | None
    clips: list[dict]
    lineage: tuple[LineageStep, ...] = ()


@dataclass(frozen=True)
class Rejection:
    """A recent failure, fed back verbatim: the stage it failed at and its exact text."""

    experiment_id: str | None
    stage: str  # "propose" | "policy" | "smoke" | "duplicate" | "encode" | "decode" | "check" | ...
    reason: str
    hypothesis: str = ""


@dataclass(frozen=True)
class PastAttempt:
    """An earlier, rejected attempt of THIS proposal: why it was rejected, the reply that made it
    (None if not recorded) and the module it produced (None if the reply gave no usable module)."""

    rejection: Rejection
    reply: str | None = None
    code: str | None = None


@dataclass(frozen=True)
class CampaignLimits:
    """The limits every candidate runs under, as numbers (from the campaign's settings)."""

    timeout_s: float
    memory_mb: int
    module_bytes: int
    qualities: tuple[float, ...]
    smoke_size: tuple[int, int]
    smoke_frames: int
    vmaf: bool


@dataclass(frozen=True)
class ProposalContext:
    """Everything a proposer is shown to write one candidate."""

    parent: ArchiveEntry  # the program to improve
    others: list[ArchiveEntry]  # a few other strong and diverse programs
    rejections: list[Rejection]  # recent failures (other candidates)
    attempts: tuple[PastAttempt, ...] = ()  # earlier rejected attempts of THIS proposal, oldest first
    seed: int = 0
    limits: CampaignLimits | None = None

    @property
    def retry_feedback(self) -> Rejection | None:
        """Why the previous attempt of this proposal was rejected, if there was one."""
        return self.attempts[-1].rejection if self.attempts else None

    @property
    def edit_base(self) -> str:
        """The module SEARCH/REPLACE edits apply to: the last attempt's module if it made one, else the parent."""
        made = [attempt.code for attempt in self.attempts if attempt.code is not None]
        return made[-1] if made else self.parent.code


@dataclass(frozen=True)
class Usage:
    """Tokens a proposal spent and what they cost (input_tokens counts cached input too; of it,
    cache_read_tokens were read from and cache_write_tokens written to the prompt cache)."""

    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True)
class Proposal:
    """One candidate codec: the complete module source and where it came from."""

    code: str
    hypothesis: str
    parents: list[str]  # experiment ids it derives from
    proposer: str  # "claude" | "offline"
    model: str | None
    usage: Usage
    reply: str | None = None  # the model's reply text as it came, for a repair turn


class ProposalError(AivError):
    """The proposer produced no usable module: reason in words, usage still counted (tokens were spent)."""

    def __init__(self, reason: str, usage: Usage = Usage(), reply: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.usage = usage
        self.reply = reply


class Proposer(Protocol):
    """Writes one candidate codec from a ProposalContext, or raises ProposalError."""

    name: str

    def propose(self, context: ProposalContext) -> Proposal: ...
