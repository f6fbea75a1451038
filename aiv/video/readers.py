"""Read clips from files and folders: y4m, raw 8-bit 4:2:0 .yuv, and containers/Annex B through PyAV.

Every reader returns 8-bit 4:2:0 planes. Anything done on the way in (cropping odd sizes,
converting pixel formats, assumed or overridden frame rates, dropped damaged frames) is written
to `Clip.notes`. Damaged streams: frames decoded before the first decoding error or the first
frame the decoder flags as corrupt are kept, with a note; if none decoded, it is a ClipError.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import av
import numpy as np

from aiv.errors import ClipError
from aiv.video.clip import Clip
from aiv.video.y4m import clip_from_planar, crop_even, frame_bytes, read_y4m

_RAW_STREAMS = {".264": "h264", ".h264": "h264", ".265": "hevc", ".hevc": "hevc"}  # Annex B: name the demuxer
_CONTAINERS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".ivf")
SUPPORTED_SUFFIXES: tuple[str, ...] = (".y4m", ".yuv") + _CONTAINERS + tuple(_RAW_STREAMS)

_NAMED_SIZES = {"sqcif": (128, 96), "qcif": (176, 144), "cif": (352, 288), "4cif": (704, 576)}
_SIZE_TOKEN = re.compile(r"(\d+)x(\d+)", re.IGNORECASE)
_FPS_TOKEN = re.compile(r"(\d+(?:\.\d+)?)(fps|hz)?", re.IGNORECASE)


def read_clip(
    path: str | Path, frames: int | None = None, size: tuple[int, int] | None = None, fps: float | None = None
) -> Clip:
    """Read the first `frames` frames of one file as 8-bit 4:2:0; the clip is named after the file stem.

    `size` (width, height) applies to raw .yuv only. `fps` overrides the file's rate (noted when
    they differ) and is needed for .yuv files whose name does not carry it.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ClipError(f"{path}: unsupported file type {path.suffix!r}; supported: {', '.join(SUPPORTED_SUFFIXES)}")
    if not path.is_file():
        raise ClipError(f"{path}: no such file")
    if frames is not None and frames < 1:
        raise ValueError(f"frames must be positive, got {frames}")
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    fps = None if fps is None else float(fps)  # 25 and 25.0 must give the same clip (and sha256)
    if suffix == ".yuv":
        return read_yuv(path, frames, size, fps)
    if suffix == ".y4m":
        clip = read_y4m(path, frames)
        if fps is None:
            return clip
        return dataclasses.replace(clip, fps=fps, notes=clip.notes + _rate_note(fps, clip.fps, "the y4m header"))
    return _read_av(path, frames, fps)


def load_clips(
    specs: list[str | Path], frames: int | None = None, size: tuple[int, int] | None = None, fps: float | None = None
) -> list[Clip]:
    """Read every file named, and every supported file directly inside every folder named (sorted by name).

    Clips are named after their file stems; a repeated name gets a suffix (-2, -3, ...).
    """
    if not specs:
        raise ClipError("no clip files or folders given")
    clips: list[Clip] = []
    taken: set[str] = set()
    for path in (file for spec in specs for file in expand_clip_paths(Path(spec))):
        clip = read_clip(path, frames, size, fps)
        name = _unique(clip.name, taken)
        clips.append(clip if name == clip.name else dataclasses.replace(clip, name=name))
    return clips


def read_yuv(
    path: str | Path, frames: int | None = None, size: tuple[int, int] | None = None, fps: float | None = None
) -> Clip:
    """Read raw planar 8-bit 4:2:0; size and rate from the arguments, else from a name like foo_352x288_30.yuv."""
    path = Path(path)
    named_size, named_fps = parse_yuv_name(path.stem)
    notes: tuple[str, ...] = ()
    if size is not None and named_size is not None and tuple(size) != named_size:
        notes += (f"size {size[0]}x{size[1]} given; the file name says {named_size[0]}x{named_size[1]}",)
    if fps is not None and named_fps is not None:
        notes += _rate_note(fps, named_fps, "the file name")
    geometry, rate = size or named_size, float(fps) if fps else named_fps
    if geometry is None or rate is None:
        missing = " and ".join(what for what, known in (("size", geometry), ("frame rate", rate)) if known is None)
        raise ClipError(
            f"{path}: raw .yuv {missing} unknown: pass --size WxH / --fps, or name the file like foreman_352x288_30.yuv"
        )
    width, height = geometry
    if width < 1 or height < 1:
        raise ClipError(f"{path}: frame size {width}x{height} is empty")
    frame_size = frame_bytes(width, height)
    total = path.stat().st_size
    whole, rest = divmod(total, frame_size)
    if whole == 0 or rest:
        raise ClipError(
            f"{path}: {total} bytes is not a whole number of {width}x{height} 4:2:0 frames "
            f"({frame_size} bytes each); wrong --size, or a truncated file"
        )
    count = whole if frames is None else min(frames, whole)
    try:
        with open(path, "rb") as stream:
            data = stream.read(count * frame_size)
    except OSError as exc:
        raise ClipError(f"{path}: cannot read: {exc}") from exc
    return clip_from_planar(path.stem, data, count, width, height, rate, str(path), notes)


def parse_yuv_name(stem: str) -> tuple[tuple[int, int] | None, float | None]:
    """(width, height) and frame rate from a raw file's stem, each None when the name does not say.

    The size is a `WxH` token or cif/qcif/sqcif/4cif; the rate a token ending in fps/hz, or a bare
    number right after the size (foreman_352x288_30, x_352x288_29.97fps, akiyo_cif_25fps).
    """
    tokens = re.split(r"[_\- ]+", stem)
    sizes = [(i, found) for i, token in enumerate(tokens) if (found := _size_of(token))]
    size_at, size = sizes[0] if sizes else (None, None)
    rates = [_FPS_TOKEN.fullmatch(token) for token in tokens]
    marked = [float(m[1]) for m in rates if m and m[2]]
    after_size = rates[size_at + 1] if size_at is not None and size_at + 1 < len(tokens) else None
    fps = marked[0] if marked else float(after_size[1]) if after_size else None
    return size, fps or None


def _size_of(token: str) -> tuple[int, int] | None:
    match = _SIZE_TOKEN.fullmatch(token)
    return (int(match[1]), int(match[2])) if match else _NAMED_SIZES.get(token.lower())


def expand_clip_paths(path: Path) -> list[Path]:
    """`path` itself, or the supported clip files directly inside the folder `path` (sorted by name).

    ClipError for a missing path or a folder without clip files.
    """
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)
        if not files:
            raise ClipError(f"{path}: folder has no supported clip files ({', '.join(SUPPORTED_SUFFIXES)})")
        return files
    if not path.exists():
        raise ClipError(f"{path}: no such file or folder")
    return [path]


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    taken.add(candidate)
    return candidate


def _rate_note(fps: float, stored: float, where: str) -> tuple[str, ...]:
    """A note that the rate given overrides a different one `where` says, or none when they agree."""
    return () if fps == stored else (f"frame rate {fps:g} given; {where} says {stored:g}",)


def _ffmpeg_reason(exc: Exception) -> str:
    """FFmpeg's words for an error, without PyAV's "[Errno 1094995529]" and the repeated path."""
    return getattr(exc, "strerror", None) or str(exc)


def _read_av(path: Path, frames: int | None, fps: float | None) -> Clip:
    raw_format = _RAW_STREAMS.get(path.suffix.lower())
    try:
        container = av.open(str(path), format=raw_format)
    except (av.error.FFmpegError, OSError) as exc:
        raise ClipError(f"{path}: cannot open as video: {_ffmpeg_reason(exc)}") from exc
    with container:
        if not container.streams.video:
            raise ClipError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate, rate_notes = _stream_rate(stream, raw_format, fps, path)
        planes, decode_notes = _decode(container, stream, frames, path)
    y, u, v = (np.stack(plane) for plane in zip(*planes))
    y, u, v, crop_notes = crop_even(y, u, v)
    return Clip(
        path.stem,
        np.ascontiguousarray(y),
        np.ascontiguousarray(u),
        np.ascontiguousarray(v),
        rate,
        str(path),
        rate_notes + decode_notes + crop_notes,
    )


def _stream_rate(
    stream: av.video.stream.VideoStream, raw_format: str | None, fps: float | None, path: Path
) -> tuple[float, tuple[str, ...]]:
    """The rate to use and notes about it: `fps` if given, else the stored rate, else ffmpeg's guess."""
    if raw_format:
        stored = stream.codec_context.framerate  # from the bitstream's timing info, when it has any
        where = "the stream's timing info"
    else:
        stored = stream.average_rate or stream.guessed_rate
        where = "the container"
    if fps is not None:
        return fps, _rate_note(fps, float(stored), where) if stored else ()
    if stored:
        return float(stored), ()
    guess = stream.guessed_rate or stream.average_rate
    if not guess:
        raise ClipError(f"{path}: the file stores no frame rate and ffmpeg cannot guess one; pass --fps")
    return float(guess), (
        (f"frame rate not stored in the file; assumed {float(guess):g} (ffmpeg's guess), pass --fps to override"),
    )


def _decode(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, frames: int | None, path: Path
) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], tuple[str, ...]]:
    """Decoded frames as (y, u, v) arrays, stopping at `frames`, a decoding error or a corrupt frame."""
    planes: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    notes: tuple[str, ...] = ()
    formats: set[str] = set()
    try:
        for frame in container.decode(stream):
            if frame.is_corrupt:
                notes += (
                    (
                        f"stopped at frame {len(planes)}: the decoder flagged it corrupt (truncated or damaged "
                        f"stream); kept {len(planes)} frames"
                    ),
                )
                break
            if planes and (frame.height, frame.width) != planes[0][0].shape:
                raise ClipError(f"{path}: frame size changes mid-stream at frame {len(planes)}")
            formats.add(frame.format.name)
            planes.append(_yuv420(frame))
            if frames is not None and len(planes) >= frames:
                break
    except av.error.FFmpegError as exc:
        if not planes:
            raise ClipError(f"{path}: cannot decode: {_ffmpeg_reason(exc)}") from exc
        notes += (f"decoding failed after {len(planes)} frames ({_ffmpeg_reason(exc)}); kept those frames",)
    if not planes:
        raise ClipError(f"{path}: no decodable video frames" + (f" ({notes[-1]})" if notes else ""))
    wanted = stream.frames if frames is None else min(frames, stream.frames)  # stream.frames: 0 when unknown
    if len(planes) < wanted and not notes:  # a silent short read, not one explained above
        notes = (
            (
                f"the file declares {stream.frames} frames but only {len(planes)} could be decoded "
                f"(truncated file?); kept those"
            ),
        )
    converted = sorted(formats - {"yuv420p"})
    if converted:
        notes = (f"converted {', '.join(converted)} to 8-bit yuv420p",) + notes
    return planes, notes


def _yuv420(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One frame's Y, U, V planes as uint8 arrays (converted to yuv420p first when needed)."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    return tuple(  # type: ignore[return-value]
        np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width].copy()
        for plane in frame.planes
    )
