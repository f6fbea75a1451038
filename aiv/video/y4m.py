"""YUV4MPEG2 (.y4m) files, 8-bit 4:2:0 only, and the planar 4:2:0 frame layout raw .yuv shares.

Reading streams frame by frame, so `frames` bounds what is read. A truncated last frame is
dropped with a note on the clip; a file without one whole frame is a ClipError.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np

from aiv.errors import ClipError
from aiv.video.clip import Clip

# 8-bit 4:2:0 chroma tags; they differ only in chroma siting, which the planes do not carry.
# A header without C means 4:2:0 too (the format's default).
Y4M_CHROMA = ("420jpeg", "420paldv", "420mpeg2", "420")

_MAGIC = b"YUV4MPEG2"
_LINE_LIMIT = 4096  # header lines are short; anything longer is not a y4m header
_MAX_DENOMINATOR = 1001 * 1000  # enough for 30000/1001-style rates to round-trip exactly


def frame_bytes(width: int, height: int) -> int:
    """Bytes of one planar 4:2:0 frame (chroma planes are ceil(W/2) x ceil(H/2))."""
    return width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)


def clip_from_planar(
    name: str,
    data: bytes | bytearray,
    frames: int,
    width: int,
    height: int,
    fps: float,
    source: str,
    notes: tuple[str, ...] = (),
) -> Clip:
    """A Clip from `frames` concatenated planar 4:2:0 frames, cropped to even size (noted) if odd."""
    cw, ch = (width + 1) // 2, (height + 1) // 2
    flat = np.frombuffer(data, np.uint8, count=frames * frame_bytes(width, height)).reshape(frames, -1)
    y = flat[:, : width * height].reshape(frames, height, width)
    u = flat[:, width * height : width * height + cw * ch].reshape(frames, ch, cw)
    v = flat[:, width * height + cw * ch :].reshape(frames, ch, cw)
    y, u, v, crop_notes = crop_even(y, u, v)
    return Clip(
        name, np.ascontiguousarray(y), np.ascontiguousarray(u), np.ascontiguousarray(v), fps, source, notes + crop_notes
    )


def crop_even(
    y: np.ndarray, u: np.ndarray, v: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Drop the last column/row of an odd-sized [T, H, W] luma plane (and chroma to match), with a note."""
    _, height, width = y.shape
    even_w, even_h = width - width % 2, height - height % 2
    if (even_w, even_h) == (width, height):
        return y, u, v, ()
    if even_w == 0 or even_h == 0:
        raise ClipError(f"frames of {width}x{height} are too small for 4:2:0")
    note = f"cropped {width}x{height} to {even_w}x{even_h}"
    cw, ch = even_w // 2, even_h // 2
    return y[:, :even_h, :even_w], u[:, :ch, :cw], v[:, :ch, :cw], (note,)


def write_y4m(path: str | Path, clip: Clip) -> None:
    """Write `clip` as a progressive 8-bit 4:2:0 (C420jpeg) y4m file."""
    rate = Fraction(clip.fps).limit_denominator(_MAX_DENOMINATOR)
    header = f"YUV4MPEG2 W{clip.width} H{clip.height} F{rate.numerator}:{rate.denominator} Ip A1:1 C420jpeg\n"
    with open(path, "wb") as out:
        out.write(header.encode("ascii"))
        for t in range(clip.frames):
            out.write(b"FRAME\n")
            out.writelines(np.ascontiguousarray(plane[t]).tobytes() for plane in (clip.y, clip.u, clip.v))


def read_y4m(path: str | Path, frames: int | None = None, name: str | None = None) -> Clip:
    """Read the first `frames` frames (all when None) of an 8-bit 4:2:0 y4m file; name defaults to the stem."""
    path = Path(path)
    if frames is not None and frames < 1:
        raise ValueError(f"frames must be positive, got {frames}")
    try:
        with open(path, "rb") as stream:
            width, height, fps = _read_header(stream, path)
            data, count, notes = _read_frames(stream, path, frame_bytes(width, height), frames)
    except OSError as exc:
        raise ClipError(f"{path}: cannot read: {exc}") from exc
    return clip_from_planar(name or path.stem, data, count, width, height, fps, str(path), notes)


def _read_header(stream: BinaryIO, path: Path) -> tuple[int, int, float]:
    line = stream.readline(_LINE_LIMIT)
    if not line.startswith(_MAGIC + b" ") or not line.endswith(b"\n"):
        raise ClipError(f"{path}: not a y4m file (no YUV4MPEG2 header line)")
    params = {token[:1]: token[1:] for token in line[len(_MAGIC) :].decode("ascii", "replace").split()}
    chroma = params.get("C", "420")
    if chroma not in Y4M_CHROMA:
        raise ClipError(
            f"{path}: chroma format C{chroma} is not supported; only 8-bit 4:2:0 "
            f"({', '.join('C' + c for c in Y4M_CHROMA)})"
        )
    try:
        width, height = int(params["W"]), int(params["H"])
    except (KeyError, ValueError):
        raise ClipError(f"{path}: y4m header has no valid width and height (W, H): {line.strip()!r}") from None
    if width < 1 or height < 1:
        raise ClipError(f"{path}: y4m header gives an empty frame size {width}x{height}")
    rate = params.get("F", "")
    num, _, den = rate.partition(":")
    try:
        fps = int(num) / int(den)
    except (ValueError, ZeroDivisionError):
        raise ClipError(f"{path}: y4m header has no valid frame rate (F): {rate!r}") from None
    if fps <= 0:
        raise ClipError(f"{path}: y4m header gives a frame rate of {rate}")
    return width, height, fps


def _read_frames(stream: BinaryIO, path: Path, size: int, frames: int | None) -> tuple[bytearray, int, tuple[str, ...]]:
    data = bytearray()
    count = 0
    notes: tuple[str, ...] = ()
    while frames is None or count < frames:
        offset = stream.tell()
        marker = stream.readline(_LINE_LIMIT)
        if not marker:
            break
        if not marker.endswith(b"\n"):
            notes = (f"file truncated in the header of frame {count}; kept {count} whole frames",)
            break
        if not marker.startswith(b"FRAME"):
            raise ClipError(f"{path}: corrupt y4m: no FRAME marker for frame {count} at byte {offset}")
        pixels = stream.read(size)
        if len(pixels) < size:
            notes = (f"file truncated: frame {count} has {len(pixels)} of {size} bytes; kept {count} whole frames",)
            break
        data += pixels
        count += 1
    if count == 0:
        reason = notes[0] if notes else "no frames after the header"
        raise ClipError(f"{path}: no whole frame to read ({reason})")
    return data, count, notes
