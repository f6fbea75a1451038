"""The in-memory clip every part of the lab works on: 8-bit 4:2:0 planes plus what they are."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np


def safe_clip_name(name: str) -> str:
    """A clip name as one path or key segment: runs of other characters become "_", no leading or
    trailing dots (so never "." or ".."), "clip" when nothing is left."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip(".") or "clip"


@dataclass(frozen=True)
class Clip:
    """A sequence of 8-bit 4:2:0 frames.

    `y` is uint8 [T, H, W]; `u` and `v` are uint8 [T, H/2, W/2]; H and W are even.
    `notes` records anything done to the source on the way in (cropping, truncation).
    """

    name: str
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    fps: float
    source: str = ""
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        t, h, w = self.y.shape
        expected = (t, h // 2, w // 2)
        if self.y.dtype != np.uint8 or self.u.dtype != np.uint8 or self.v.dtype != np.uint8:
            raise ValueError(f"clip {self.name}: planes must be uint8")
        if h % 2 or w % 2 or self.u.shape != expected or self.v.shape != expected:
            raise ValueError(f"clip {self.name}: planes {self.y.shape}/{self.u.shape}/{self.v.shape} are not 4:2:0")
        if t == 0:
            raise ValueError(f"clip {self.name}: no frames")
        if not self.fps > 0:
            raise ValueError(f"clip {self.name}: frame rate {self.fps} is not positive")

    @property
    def frames(self) -> int:
        return int(self.y.shape[0])

    @property
    def height(self) -> int:
        return int(self.y.shape[1])

    @property
    def width(self) -> int:
        return int(self.y.shape[2])

    @property
    def sha256(self) -> str:
        """Hash of exactly the frames a codec sees (planes, geometry and rate), so truncation counts."""
        digest = hashlib.sha256(f"{self.width}x{self.height}x{self.frames}@{self.fps!r}".encode())
        for plane in (self.y, self.u, self.v):
            digest.update(np.ascontiguousarray(plane).tobytes())
        return digest.hexdigest()

    def crop(self, width: int, height: int, name: str | None = None) -> Clip:
        """The top-left `width` x `height` window of every frame (even sizes), optionally renamed."""
        if width % 2 or height % 2 or not 0 < width <= self.width or not 0 < height <= self.height:
            raise ValueError(f"clip {self.name}: cannot crop {self.width}x{self.height} to {width}x{height}")
        return Clip(
            name or self.name,
            self.y[:, :height, :width].copy(),
            self.u[:, : height // 2, : width // 2].copy(),
            self.v[:, : height // 2, : width // 2].copy(),
            self.fps,
            self.source,
            self.notes + (f"top-left {width}x{height} of {self.width}x{self.height}",),
        )

    def head(self, frames: int) -> Clip:
        """The first `frames` frames (all of them when the clip is shorter)."""
        if frames >= self.frames:
            return self
        note = f"first {frames} of {self.frames} frames"
        return Clip(
            self.name, self.y[:frames], self.u[:frames], self.v[:frames], self.fps, self.source, self.notes + (note,)
        )
