"""The lab's exception types: each names what was wrong, so callers can report it plainly."""

from __future__ import annotations


class AivError(Exception):
    """Base class for every error the lab raises on purpose."""


class ClipError(AivError):
    """A clip could not be read: missing, corrupt, unsupported or inconsistent input."""


class CodecFailure(AivError):
    """A candidate codec failed at one stage of its evaluation.

    `stage` is one of: encode, decode, check; `reason` says what happened in words a
    researcher (or a model) can act on.
    """

    def __init__(self, stage: str, reason: str, clip: str | None = None, quality: float | None = None):
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason
        self.clip = clip
        self.quality = quality

    def as_dict(self) -> dict:
        """The failure as the `failure` object of result.json."""
        return {"stage": self.stage, "clip": self.clip, "quality": self.quality, "reason": self.reason}


class UsageError(AivError):
    """The lab was asked for something that does not exist or does not make sense."""


class MetricError(AivError):
    """A quality measurement could not be made (a missing tool, a crash, an unreadable result)."""


class ConfigError(AivError):
    """The lab is configured in a way that cannot work: a missing credential, an unknown model, a bad limit."""
