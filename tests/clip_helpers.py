"""Small clip helpers for tests (a module, not a conftest, so test folders with their own conftest can import it)."""

from __future__ import annotations

from aiv.video.clip import Clip

TEST_SECRET = b"the tests' corpus secret (no store)"  # a fixed secret: tests compare clips across runs


def crop_clip(clip: Clip, width: int, height: int, frames: int, name: str | None = None) -> Clip:
    """The top-left width x height window of the first `frames` frames."""
    return clip.head(frames).crop(width, height, name=name)
