"""Encoding a clip with one of PyAV's bundled encoders (x264, x265, ...)."""

from __future__ import annotations

from fractions import Fraction
from typing import BinaryIO

import av
import numpy as np

from aiv.video.clip import Clip


def encode_clip(
    clip: Clip,
    target: str | BinaryIO,
    container_format: str,
    codec: str,
    codec_options: dict[str, str],
    container_options: dict[str, str] | None = None,
) -> None:
    """Encode every frame of `clip` as 8-bit 4:2:0 into `target` (a path or a binary file object).

    `container_format` is a muxer name: "h264"/"hevc" for a raw elementary stream (no container
    overhead in its size), "mp4" for a playable file.
    """
    rate = Fraction(clip.fps).limit_denominator(1_001_000)
    with av.open(target, mode="w", format=container_format, options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = clip.width, clip.height, "yuv420p"
        stream.options = codec_options
        for index in range(clip.frames):
            planar = np.concatenate([clip.y[index].ravel(), clip.u[index].ravel(), clip.v[index].ravel()])
            frame = av.VideoFrame.from_ndarray(planar.reshape(clip.height * 3 // 2, clip.width), format="yuv420p")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
