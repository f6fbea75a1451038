"""What every proposer takes and gives: the archive view it is shown, and the candidate it writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aiv.errors import AivError


@dataclass(frozen=True)
class ArchiveEntry:
    """One archived program as a prompt shows it.

    `score` is the headline BD-rate vs x264 on PSNR-Y in percent (lower is better), or None.
    `clips` is a compact copy of the evaluation record's clips (may be empty): per clip
    {"name", "bd_rate": {...}, "points": [{"quality", "kbps", "psnr_y", "ssim_y", "vmaf",
    "encode_s", "decode_s"}], "anchors": {"x264": [{"crf", "kbps", "psnr_y"}, ...]}}.
    """

    experiment_id: str
    code: str
    hypothesis: str
    score: float | None
    clips: list[dict]


@dataclass(frozen=True)
class Rejection:
    """A recent failure, fed back verbatim: the stage it failed at and its exact text."""

    experiment_id: str | None
    stage: str  # "propose" | "policy" | "smoke" | "duplicate" | "encode" | "decode" | "check" | ...
    reason: str
    hypothesis: str = ""


@dataclass(frozen=True)
class ProposalContext:
    """Everything a proposer is shown to write one candidate."""

    parent: ArchiveEntry  # the program to improve
    others: list[ArchiveEntry]  # a few other strong and diverse programs
    rejections: list[Rejection]  # recent failures (any candidate)
    retry_feedback: Rejection | None = None  # why the previous attempt of THIS proposal was rejected
    seed: int = 0


@dataclass(frozen=True)
class Usage:
    """Tokens a proposal spent and what they cost (input_tokens counts cached input too)."""

    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0


@dataclass(frozen=True)
class Proposal:
    """One candidate codec: the complete module source and where it came from."""

    code: str
    hypothesis: str
    parents: list[str]  # experiment ids it derives from
    proposer: str  # "claude" | "offline"
    model: str | None
    usage: Usage


class ProposalError(AivError):
    """The proposer produced no usable module: reason in words, usage still counted (tokens were spent)."""

    def __init__(self, reason: str, usage: Usage = Usage()):
        super().__init__(reason)
        self.reason = reason
        self.usage = usage


class Proposer(Protocol):
    """Writes one candidate codec from a ProposalContext, or raises ProposalError."""

    name: str

    def propose(self, context: ProposalContext) -> Proposal: ...
