"""Anchor encodes: real x264 and x265 encodes of the same frames, measured like any candidate.

An anchor is never a constant: each point comes from encoding the clip's frames with PyAV's
bundled libx264/libx265, decoding the elementary stream again and measuring it with the same
metric code the candidates get. Points are cached on disk by clip hash and encoder settings.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import av
import numpy as np

from aiv.errors import MetricError, UsageError
from aiv.metrics.rate import kbps
from aiv.settings import DEFAULT_ANCHOR_CRFS, DEFAULT_ANCHOR_PRESET, check_anchor_options
from aiv.video.clip import Clip
from aiv.video.pyav_writer import encode_clip

CACHE_VERSION = 1


@dataclass(frozen=True)
class AnchorSettings:
    """One anchor encoder's settings: everything that decides its bitstream."""

    name: str  # "x264" or "x265"
    codec: str  # PyAV/ffmpeg encoder name
    stream_format: str  # elementary stream muxer, so bytes carry no container overhead
    preset: str = DEFAULT_ANCHOR_PRESET
    tune: str = "psnr"
    crfs: tuple[int, ...] = DEFAULT_ANCHOR_CRFS

    def options(self, crf: int) -> dict[str, str]:
        """Encoder options for one CRF point."""
        opts = {"preset": self.preset, "tune": self.tune, "crf": str(crf)}
        if self.codec == "libx265":
            opts["x265-params"] = "log-level=error"
        return opts

    def key(self) -> str:
        """A file-name-safe key of every setting, used in the cache."""
        crfs = "-".join(str(c) for c in self.crfs)
        return f"{self.name}-{self.preset}-{self.tune}-crf{crfs}-v{CACHE_VERSION}-av{av.__version__}"


ANCHORS: dict[str, AnchorSettings] = {
    "x264": AnchorSettings("x264", "libx264", "h264"),
    "x265": AnchorSettings("x265", "libx265", "hevc"),
}


def anchor_settings(
    name: str, crfs: tuple[int, ...] = DEFAULT_ANCHOR_CRFS, preset: str = DEFAULT_ANCHOR_PRESET
) -> AnchorSettings:
    """The settings of anchor `name` ("x264" or "x265") at the given CRF points and speed preset."""
    if name not in ANCHORS:
        raise UsageError(f"unknown anchor {name!r}; known: {', '.join(ANCHORS)}")
    check_anchor_options(crfs, preset)
    return replace(ANCHORS[name], crfs=tuple(crfs), preset=preset)


Planes = tuple[np.ndarray, np.ndarray, np.ndarray]
Measure = Callable[[Planes], dict]


def encode_anchor(clip: Clip, settings: AnchorSettings, crf: int) -> bytes:
    """Encode every frame of `clip` with the anchor encoder at `crf`; return the raw elementary stream."""
    buffer = io.BytesIO()
    encode_clip(clip, buffer, settings.stream_format, settings.codec, settings.options(crf))
    return buffer.getvalue()


def decode_stream(stream_bytes: bytes, stream_format: str, width: int, height: int) -> Planes:
    """Decode an elementary stream to 4:2:0 planes with PyAV."""
    ys, us, vs = [], [], []
    with av.open(io.BytesIO(stream_bytes), mode="r", format=stream_format) as container:
        for frame in container.decode(video=0):
            packed = frame.to_ndarray(format="yuv420p")
            ys.append(packed[:height])
            chroma = packed[height:].reshape(2, height // 2, width // 2)
            us.append(chroma[0])
            vs.append(chroma[1])
    return np.stack(ys), np.stack(us), np.stack(vs)


def measure_anchor(clip: Clip, settings: AnchorSettings, measure: Measure) -> list[dict]:
    """Encode, decode and measure every CRF point of one anchor (no cache)."""
    points = []
    for crf in settings.crfs:
        stream_bytes = encode_anchor(clip, settings, crf)
        decoded = decode_stream(stream_bytes, settings.stream_format, clip.width, clip.height)
        if decoded[0].shape != clip.y.shape:
            raise MetricError(
                f"anchor {settings.name} crf {crf} decoded {decoded[0].shape[0]} frames of "
                f"{decoded[0].shape[1:]} for a clip of {clip.frames} frames of {clip.y.shape[1:]}"
            )
        point = {"crf": crf, "bytes": len(stream_bytes), "kbps": kbps(len(stream_bytes), clip.fps, clip.frames)}
        point.update(measure(decoded))
        points.append(point)
    return points


def anchor_points(
    clip: Clip, settings: AnchorSettings, measure: Measure, metrics_key: str, cache_dir: Path | None
) -> list[dict]:
    """The measured points of the anchor `settings` on `clip`, from the cache when the same settings were measured.

    `metrics_key` names the metric set `measure` computes (e.g. with or without VMAF), so a cached
    entry is reused only when it holds the same measurements.
    """
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / f"{clip.sha256}-{settings.key()}-{metrics_key}.json"
        if cache_file.is_file():
            cached = json.loads(cache_file.read_text())
            if cached.get("settings") == asdict(settings) | {"crfs": list(settings.crfs)}:
                return cached["points"]
    points = measure_anchor(clip, settings, measure)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "clip_sha256": clip.sha256,
            "settings": asdict(settings) | {"crfs": list(settings.crfs)},
            "points": points,
        }
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(cache_file)
    return points
