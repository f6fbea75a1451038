"""VMAF, computed by libvmaf inside the ffmpeg binary that imageio-ffmpeg ships.

Both clips go to a private temporary folder as y4m; ffmpeg's libvmaf filter (model
VMAF_MODEL, built into libvmaf, no model file) writes a JSON log there, from which the
per-frame scores are read. Anything that keeps a real score from being read is a MetricError
that says what happened, with the tail of ffmpeg's stderr.
"""

from __future__ import annotations

import functools
import json
import math
import numbers
import os
import subprocess
import tempfile
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from aiv.errors import MetricError
from aiv.video.clip import Clip
from aiv.video.y4m import write_y4m

VMAF_MODEL = "vmaf_v0.6.1"
# libvmaf in imageio-ffmpeg 0.8.1 (ffmpeg n9.0.2) crashes (SIGSEGV) on frames 16 pixels or less on a
# side and works from 17 (measured); 4:2:0 frames are even-sized, so 18 is the smallest usable.
VMAF_MIN_SIDE = 18
VMAF_TIMEOUT_S = 600.0
_STDERR_TAIL = 2000
_LOG_NAME = "vmaf.json"

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


def vmaf_available() -> str | None:
    """None when VMAF can be measured here, otherwise the reason it cannot, in words."""
    try:
        return _libvmaf_missing(_ffmpeg_exe())
    except MetricError as error:
        return str(error)


def vmaf_frames(ref: Planes, dist: Planes, fps: float, timeout_s: float = VMAF_TIMEOUT_S) -> np.ndarray:
    """Per-frame VMAF (float64 [T], model VMAF_MODEL) of distorted (y, u, v) planes against the reference."""
    reference, distorted = _clips(ref, dist, fps)
    exe = _ffmpeg_exe()
    missing = _libvmaf_missing(exe)
    if missing:
        raise MetricError(missing)
    with tempfile.TemporaryDirectory(prefix="aiv-vmaf-") as folder:
        work = Path(folder)
        write_y4m(work / "ref.y4m", reference)
        write_y4m(work / "dist.y4m", distorted)
        graph = (
            f"[0:v][1:v]libvmaf=model=version={VMAF_MODEL}:log_fmt=json:log_path={_LOG_NAME}"
            f":n_threads={os.cpu_count() or 1}"
        )
        command = [
            exe,
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            "dist.y4m",
            "-i",
            "ref.y4m",
            "-lavfi",
            graph,
            "-f",
            "null",
            "-",
        ]
        try:
            done = subprocess.run(
                command, cwd=work, capture_output=True, text=True, errors="replace", timeout=timeout_s
            )
        except subprocess.TimeoutExpired as error:
            raise MetricError(f"VMAF: ffmpeg did not finish in {timeout_s:.0f} s{_tail(error.stderr)}") from error
        except OSError as error:
            raise MetricError(f"VMAF: could not start ffmpeg at {exe}: {error}") from error
        if done.returncode != 0:
            code = done.returncode
            how = f"was killed by signal {-code}" if code < 0 else f"exited with {code}"
            raise MetricError(f"VMAF: ffmpeg {how}{_tail(done.stderr)}")
        scores = _read_log(work / _LOG_NAME, done.stderr)
    if scores.shape[0] != reference.frames:
        raise MetricError(
            f"VMAF: libvmaf scored {scores.shape[0]} frames, the clips have {reference.frames}{_tail(done.stderr)}"
        )
    return scores


def vmaf_mean(ref: Planes, dist: Planes, fps: float, timeout_s: float = VMAF_TIMEOUT_S) -> float:
    """Mean over frames of the per-frame VMAF."""
    return float(np.mean(vmaf_frames(ref, dist, fps, timeout_s)))


def _clips(ref: Planes, dist: Planes, fps: float) -> tuple[Clip, Clip]:
    """Both plane sets as Clips (which checks 4:2:0 geometry), after checking they match and fit libvmaf."""
    if len(ref) != 3 or len(dist) != 3:
        raise ValueError(f"VMAF: expected (y, u, v) planes, got {len(ref)} and {len(dist)} planes")
    for plane, r, d in zip("yuv", ref, dist):
        if not (isinstance(r, np.ndarray) and isinstance(d, np.ndarray)):
            raise ValueError(
                f"VMAF: {plane} planes must be numpy arrays, got {type(r).__name__} and {type(d).__name__}"
            )
        if r.shape != d.shape:
            raise ValueError(f"VMAF: reference {plane} shape {r.shape} differs from distorted {d.shape}")
    if not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"VMAF: frame rate {fps!r} is not a positive number")
    reference, distorted = Clip("reference", *ref, fps=float(fps)), Clip("distorted", *dist, fps=float(fps))
    if min(reference.width, reference.height) < VMAF_MIN_SIDE:
        raise MetricError(
            f"VMAF: frames of {reference.width}x{reference.height} are too small; libvmaf here "
            f"needs at least {VMAF_MIN_SIDE} pixels on each side"
        )
    return reference, distorted


def _ffmpeg_exe() -> str:
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as error:
        raise MetricError(f"VMAF: no ffmpeg binary: {error}") from error


@functools.lru_cache(maxsize=8)
def _libvmaf_missing(exe: str) -> str | None:
    """None if the ffmpeg at `exe` lists the libvmaf filter, otherwise why not."""
    try:
        listing = subprocess.run(
            [exe, "-hide_banner", "-filters"], capture_output=True, text=True, errors="replace", timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"VMAF: could not run ffmpeg at {exe}: {error}"
    if listing.returncode != 0:
        return f"VMAF: `ffmpeg -filters` exited with {listing.returncode}{_tail(listing.stderr)}"
    if not any(line.split()[1:2] == ["libvmaf"] for line in listing.stdout.splitlines()):
        return f"VMAF: the ffmpeg at {exe} has no libvmaf filter"
    return None


def _read_log(path: Path, stderr: str) -> np.ndarray:
    """Per-frame `vmaf` scores from libvmaf's JSON log, in frame order."""
    try:
        frames = json.loads(path.read_text())["frames"]
        numbered = sorted((int(frame["frameNum"]), float(frame["metrics"]["vmaf"])) for frame in frames)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise MetricError(f"VMAF: could not read libvmaf's log {path.name}: {error!r}{_tail(stderr)}") from error
    if [number for number, _ in numbered] != list(range(len(numbered))):
        raise MetricError(
            f"VMAF: libvmaf's log numbers its frames {[n for n, _ in numbered][:10]}..., not 0, 1, 2, ..."
        )
    scores = np.array([score for _, score in numbered], dtype=np.float64)
    if not np.all(np.isfinite(scores)):
        raise MetricError(f"VMAF: libvmaf's log has non-finite scores {scores.tolist()}")
    return scores


def _tail(stderr: str | bytes | None) -> str:
    """`: <last lines of stderr>` for an error message, or nothing when ffmpeg said nothing."""
    if isinstance(stderr, bytes):
        stderr = stderr.decode(errors="replace")
    text = (stderr or "").strip()
    return f"; ffmpeg said: {text[-_STDERR_TAIL:]}" if text else "; ffmpeg printed nothing on stderr"
