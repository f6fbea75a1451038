"""Options and helpers shared by several `aiv` subcommands."""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

from aiv.errors import UsageError
from aiv.settings import ANCHOR_PRESETS, DEFAULT_ANCHOR_CRFS, DEFAULT_ANCHOR_PRESET
from aiv.store.ports import ExperimentStore
from aiv.video.clip import Clip

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CODEC_FAILED = 0, 1, 2, 3
ID_SCAN_PAGE = 200  # experiments per page when an id prefix is looked up
MAX_ID_MATCHES = 5  # ids named when a prefix is ambiguous
BUILTIN_FRAMES_MAX = 1000  # the built-in clips are rendered in memory: 120 frames peaked at 520 MB here


def default_cache_dir() -> Path:
    """Where anchor measurements are cached: AIV_CACHE, else ~/.cache/aiv."""
    return Path(os.environ.get("AIV_CACHE", Path.home() / ".cache" / "aiv"))


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--size takes WIDTHxHEIGHT, got {text!r}") from exc
    return width, height


def positive_float(text: str) -> float:
    """An option value that must be a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"takes a number above 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An option value that must be a whole number above 0."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"takes a whole number above 0, got {text!r}")
    return value


def parse_qualities(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"takes numbers separated by commas, got {text!r}") from exc


def parse_crfs(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"takes whole numbers separated by commas, got {text!r}") from exc


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """The option that chooses where candidates run (aiv/codec/device.py) and SSIM is computed."""
    from aiv.codec.device import DEVICE_CHOICES

    parser.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default="cpu",
        help="where candidates run (their module attribute DEVICE; on cuda every sandboxed process starts CUDA "
        "before the codec's clock) and where SSIM is computed; auto: cuda where torch finds a CUDA device "
        "(default cpu)",
    )


def add_anchor_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose the x264/x265 anchors' CRF points and speed preset."""
    crfs = ",".join(str(crf) for crf in DEFAULT_ANCHOR_CRFS)
    parser.add_argument(
        "--anchor-crfs",
        type=parse_crfs,
        default=DEFAULT_ANCHOR_CRFS,
        metavar="CRF,CRF,...",
        help=f"CRF points of the x264/x265 anchors, increasing (default {crfs}); lower CRFs suit "
        "short clips whose quality range barely overlaps the defaults'",
    )
    parser.add_argument(
        "--anchor-preset",
        choices=ANCHOR_PRESETS,
        default=DEFAULT_ANCHOR_PRESET,
        metavar="PRESET",
        help=f"x264/x265 speed preset of the anchors (default {DEFAULT_ANCHOR_PRESET}; "
        f"one of {', '.join(ANCHOR_PRESETS)})",
    )


def add_clip_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose clips."""
    parser.add_argument(
        "--clips",
        nargs="+",
        metavar="CLIP",
        help="clip files or folders (.y4m .yuv .mp4 .mkv .webm .avi .264 .265 ...), built-in clip "
        "names (pan_zoom, val_pan_zoom, ...) or clip set names (aiv clips list); "
        "default: the built-in train clips",
    )
    parser.add_argument("--frames", type=int, metavar="N", help="use the first N frames of every clip")
    parser.add_argument("--size", type=parse_size, metavar="WxH", help="frame size of raw .yuv clips")
    parser.add_argument("--fps", type=positive_float, help="frame rate, overriding what the clip says")


def load_clip_arguments(args: argparse.Namespace) -> list[Clip]:
    """The clips the options name: files, folders, built-in clips or clip sets; default the built-in train clips.

    Built-in clips are rendered from the cache's corpus secret (aiv/video/corpus_secret.py).
    """
    from aiv.video.corpus import CORPUS_NAMES, TRAIN_NAMES, builtin_clip
    from aiv.video.corpus_secret import file_secret
    from aiv.video.library import expand_specs
    from aiv.video.readers import load_clips

    if args.frames is not None and args.frames < 1:
        raise UsageError("--frames must be at least 1")
    specs = expand_specs(args.clips, default_cache_dir()) if args.clips else list(TRAIN_NAMES)
    names = [spec for spec in specs if spec in CORPUS_NAMES]
    paths = [spec for spec in specs if spec not in CORPUS_NAMES]
    if names and args.frames is not None and args.frames > BUILTIN_FRAMES_MAX:
        raise UsageError(
            f"--frames: the built-in clips are rendered in memory, at most {BUILTIN_FRAMES_MAX} frames; "
            f"pass clip files for longer ones"
        )
    secret = file_secret(default_cache_dir()) if names else b""
    builtin = [builtin_clip(name, args.frames or 30, secret=secret) for name in names]
    return builtin + (load_clips(paths, frames=args.frames, size=args.size, fps=args.fps) if paths else [])


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="PATH", help="the local store folder (default: AIV_STORE, else ./lab)")


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def print_json(value) -> None:
    print(json.dumps(value, indent=1, default=str))


def resolve_experiment_id(experiments: ExperimentStore, text: str) -> str:
    """The id of the one experiment whose id is `text` or starts with it; UsageError naming the candidates."""
    if experiments.get_experiment(text) is not None:
        return text
    matches, cursor = [], None
    while True:
        page = experiments.list_experiments(limit=ID_SCAN_PAGE, cursor=cursor)
        matches += [e.id for e in page.items if e.id.startswith(text)]
        cursor = page.cursor
        if cursor is None or len(matches) > MAX_ID_MATCHES:
            break
    if not matches:
        raise UsageError(f"no experiment {text} (no id starts with it either)")
    if len(matches) > 1:
        shown = ", ".join(matches[:MAX_ID_MATCHES]) + (", ..." if len(matches) > MAX_ID_MATCHES else "")
        raise UsageError(f"{text} is the start of several experiment ids: {shown}; give more of the id")
    return matches[0]
