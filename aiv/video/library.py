"""The lab's clip library in its cache (AIV_CACHE, else ~/.cache/aiv): fetched sequences, their pins, local sets.

    <cache>/clips/source/<file>    a download as it came (kept, so its hash can be checked again)
    <cache>/clips/y4m/<name>.y4m   what the readers use: 8-bit 4:2:0 y4m, converted once
    <cache>/clips/pins.json        {sequence: {"sha256", "bytes", "url"}}: the hash each download must have
    <cache>/clips/local-sets.json  {set: "folder or manifest path"}: sets defined by `aiv clips add-local`

A download's hash must equal the catalogue's published one, or, where none is published, the
hash of its first download (pinned then); a different hash is refused and the file removed.
A local set is a folder (its supported clip files) or a JSON manifest:
`{"clips": ["a.y4m", "sub/b.mp4"], "validation": ["b"]}` (paths relative to the manifest).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import av

from aiv.errors import ClipError, UsageError
from aiv.video.fetch import FetchError, download, part_path
from aiv.video.readers import SUPPORTED_SUFFIXES, expand_clip_paths, read_clip
from aiv.video.testsets import SEQUENCES, SETS, Sequence, sequences_named
from aiv.video.y4m import Y4M_CHROMA, read_y4m

LOCAL_SETS = "local-sets.json"
PINS = "pins.json"


@dataclass(frozen=True)
class ClipSet:
    """A named set resolved to clip files: the train files and the validation files."""

    name: str
    train: tuple[str, ...]
    validation: tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    """One line of `aiv clips list`."""

    name: str
    kind: str  # "set", "sequence" or "local set"
    present: bool
    bytes: int  # bytes on disk of what is present
    detail: str


def clips_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / "clips"


def ready_path(cache_dir: Path, sequence: str) -> Path:
    """Where the converted y4m of a catalogue sequence lives."""
    return clips_dir(cache_dir) / "y4m" / f"{sequence}.y4m"


# --- fetching ------------------------------------------------------------------------------------


def fetch(
    names: list[str], cache_dir: Path, timeout_s: float = 60.0, show_progress: bool = True, report=print
) -> list[Path]:
    """Fetch (or check again) every sequence `names` stand for; the ready y4m paths, in order.

    Stops at the first failure (FetchError), keeping every sequence already done and any partial download.
    """
    paths = []
    for seq in sequences_named(names):
        paths.append(fetch_sequence(seq, cache_dir, timeout_s, show_progress, report))
        report(f"{seq.name}: ready, {paths[-1]}")
    return paths


def fetch_sequence(
    seq: Sequence, cache_dir: Path, timeout_s: float = 60.0, show_progress: bool = True, report=print
) -> Path:
    """Download `seq` unless present, check its hash against its pin (pinning a first download), convert it."""
    source = clips_dir(cache_dir) / "source" / seq.url.rsplit("/", 1)[-1]
    if not source.exists():
        partial = part_path(source)
        resume = f", resuming after {partial.stat().st_size} bytes" if partial.exists() else ""
        report(f"{seq.name}: downloading {seq.url}{resume}")
        download(seq.url, source, timeout_s, show_progress)
    _check_pin(seq, source, cache_dir)
    ready = ready_path(cache_dir, seq.name)
    if not ready.exists():
        _convert(source, ready)
    clip = read_y4m(ready, frames=1)
    if (clip.width, clip.height) != (seq.width, seq.height):
        ready.unlink()
        raise FetchError(
            f"{seq.name}: the download is {clip.width}x{clip.height}, the catalogue says "
            f"{seq.width}x{seq.height}; not using it"
        )
    return ready


def _check_pin(seq: Sequence, source: Path, cache_dir: Path) -> None:
    digest = sha256_file(source)
    pins_file = clips_dir(cache_dir) / PINS
    pins = _read_json(pins_file)
    pinned = seq.sha256 or pins.get(seq.name, {}).get("sha256")
    if pinned is None:
        pins[seq.name] = {"sha256": digest, "bytes": source.stat().st_size, "url": seq.url}
        _write_json(pins_file, pins)
        return
    if digest != pinned:
        source.unlink()
        ready_path(cache_dir, seq.name).unlink(missing_ok=True)
        where = (
            "the catalogue's published hash" if seq.sha256 else f"the hash pinned at its first download ({pins_file})"
        )
        raise FetchError(
            f"{seq.name}: the download from {seq.url} has sha256 {digest}, not {pinned} ({where}); "
            f"refusing it and removing the file. If the source really changed, delete its pin to "
            f"accept the new file"
        )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _convert(source: Path, ready: Path) -> None:
    """Make `ready` an 8-bit 4:2:0 y4m of `source`: a hard link when it already is one, else decoded by PyAV."""
    ready.parent.mkdir(parents=True, exist_ok=True)
    if source.suffix == ".y4m" and _y4m_chroma(source) in Y4M_CHROMA:
        read_y4m(source, frames=1)  # a ClipError now, not at campaign time, if the header is bad
        os.link(source, ready)
        return
    temp = ready.with_name(ready.name + ".tmp")
    try:
        with av.open(str(source)) as container, open(temp, "wb") as out:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            if not rate:
                raise ClipError(f"{source}: no frame rate to write into the y4m header")
            header_written = False
            for frame in container.decode(stream):
                if not header_written:
                    out.write(
                        f"YUV4MPEG2 W{frame.width} H{frame.height} F{rate.numerator}:{rate.denominator} "
                        f"Ip A1:1 C420jpeg\n".encode()
                    )
                    header_written = True
                out.write(b"FRAME\n" + frame.reformat(format="yuv420p").to_ndarray().tobytes())
    except av.error.FFmpegError as exc:
        temp.unlink(missing_ok=True)
        raise ClipError(f"{source}: cannot convert to y4m: {exc}") from exc
    temp.replace(ready)


def _y4m_chroma(path: Path) -> str:
    with open(path, "rb") as stream:
        header = stream.readline(4096).decode("ascii", "replace").split()
    return next((token[1:] for token in header[1:] if token.startswith("C")), "420")


# --- local sets ----------------------------------------------------------------------------------


def add_local(name: str, path: Path, cache_dir: Path) -> ClipSet:
    """Define the local set `name` as a folder or manifest (checked now: every clip must read)."""
    if name in SETS or name in SEQUENCES:
        raise UsageError(f"{name!r} is a catalogue name; choose another name for the local set")
    clip_set = _local_set(name, Path(path).resolve())
    registry_file = clips_dir(cache_dir) / LOCAL_SETS
    registry = _read_json(registry_file)
    registry[name] = str(Path(path).resolve())
    _write_json(registry_file, registry)
    return clip_set


def _local_set(name: str, path: Path) -> ClipSet:
    if path.is_dir():
        files = [str(p) for p in expand_clip_paths(path)]
        validation: list[str] | None = None
    elif path.is_file():
        files, validation = _manifest(path)
    else:
        raise ClipError(f"{path}: no such folder or manifest")
    for file in files:
        read_clip(file, frames=1)  # a ClipError naming the file when it cannot be read
    return split(name, files, validation)


def _manifest(path: Path) -> tuple[list[str], list[str] | None]:
    try:
        manifest = json.loads(path.read_text())
        clips = manifest["clips"]
        validation = manifest.get("validation")
        if not isinstance(clips, list) or not all(isinstance(c, str) for c in clips) or not clips:
            raise ValueError("'clips' must be a non-empty list of file paths")
        if validation is not None and not (
            isinstance(validation, list) and all(isinstance(v, str) for v in validation)
        ):
            raise ValueError("'validation' must be a list of clip names (file stems)")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ClipError(
            f'{path}: not a clip set manifest ({exc}); expected {{"clips": ["a.y4m", ...], "validation": ["a"]}}'
        ) from None
    files = [str((path.parent / clip).resolve()) for clip in clips]
    for file in files:
        if Path(file).suffix.lower() not in SUPPORTED_SUFFIXES or not Path(file).is_file():
            raise ClipError(f"{path}: clip {file} is missing or not a supported clip file")
    return files, validation


def split(name: str, files: list[str], validation: list[str] | None = None) -> ClipSet:
    """Train and validation files of a set: the names given (file stems), else every fourth from the last.

    A set of one clip has no validation clips.
    """
    stems = [Path(f).stem for f in files]
    if validation is None:
        held = set(range(len(files) - 1, -1, -4)) if len(files) > 1 else set()
    else:
        unknown = sorted(set(validation) - set(stems))
        if unknown:
            raise ClipError(
                f"set {name}: validation names {', '.join(unknown)} are not among its clips ({', '.join(stems)})"
            )
        held = {i for i, stem in enumerate(stems) if stem in validation}
        if len(held) == len(files):
            raise ClipError(f"set {name}: every clip is a validation clip; nothing is left to train on")
    return ClipSet(
        name, tuple(f for i, f in enumerate(files) if i not in held), tuple(f for i, f in enumerate(files) if i in held)
    )


# --- naming sets ---------------------------------------------------------------------------------


def resolve_set(spec: str, cache_dir: Path) -> ClipSet:
    """A catalogue set, a local set (by name), or a folder or manifest path, as clip files.

    ClipError when a catalogue set is not fully fetched (naming the command that fetches it) or a
    local set's clips are gone; UsageError for a name that is none of these.
    """
    if spec in SETS:
        test_set = SETS[spec]
        missing = [seq for seq in test_set.sequences if not ready_path(cache_dir, seq).exists()]
        if missing:
            raise ClipError(f"set {spec}: {', '.join(missing)} not fetched yet; run: aiv clips fetch {spec}")
        files = [str(ready_path(cache_dir, seq)) for seq in test_set.sequences]
        return split(spec, files, list(test_set.validation))
    local = _read_json(clips_dir(cache_dir) / LOCAL_SETS)
    if spec in local:
        return _local_set(spec, Path(local[spec]))
    path = Path(spec)
    if path.is_dir() or (path.is_file() and path.suffix == ".json"):
        return _local_set(path.stem, path.resolve())
    raise UsageError(
        f"no clip set named {spec!r}: not a catalogue set ({', '.join(SETS)}), not a local set "
        f"({', '.join(local) or 'none defined; aiv clips add-local NAME DIR'}), not a folder or "
        f".json manifest"
    )


def entries(cache_dir: Path) -> list[Entry]:
    """What `aiv clips list` shows: catalogue sets and sequences, then local sets, with what is present."""
    rows = []
    for test_set in SETS.values():
        present = [seq for seq in test_set.sequences if ready_path(cache_dir, seq).exists()]
        rows.append(
            Entry(
                test_set.name,
                "set",
                len(present) == len(test_set.sequences),
                sum(_on_disk(cache_dir, SEQUENCES[seq]) for seq in present),
                f"{len(present)}/{len(test_set.sequences)} fetched; {test_set.description}",
            )
        )
    for seq in SEQUENCES.values():
        partial = part_path(clips_dir(cache_dir) / "source" / seq.url.rsplit("/", 1)[-1])
        state = f", {partial.stat().st_size} bytes downloaded so far" if partial.exists() else ""
        rows.append(
            Entry(
                seq.name,
                "sequence",
                ready_path(cache_dir, seq.name).exists(),
                _on_disk(cache_dir, seq),
                f"{seq.width}x{seq.height} {seq.fps:.4g} fps, {seq.content}{state}; {seq.url}",
            )
        )
    for name, path in _read_json(clips_dir(cache_dir) / LOCAL_SETS).items():
        rows.append(Entry(name, "local set", Path(path).exists(), _local_bytes(Path(path)), path))
    return rows


def _local_bytes(path: Path) -> int:
    """Bytes of a local set's clip files (a folder's, or a manifest's)."""
    try:
        files = expand_clip_paths(path) if path.is_dir() else [Path(f) for f in _manifest(path)[0]]
    except ClipError:
        return 0
    return sum(f.stat().st_size for f in files)


def _on_disk(cache_dir: Path, seq: Sequence) -> int:
    """Bytes of a sequence's files (the download, and the y4m when it is a separate file)."""
    source = clips_dir(cache_dir) / "source" / seq.url.rsplit("/", 1)[-1]
    ready = ready_path(cache_dir, seq.name)
    files = {(p.stat().st_ino, p.stat().st_size) for p in (source, ready) if p.exists()}
    return sum(size for _, size in files)


def _read_json(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        value = json.loads(path.read_text())
    except ValueError as exc:
        raise ClipError(f"{path}: corrupt ({exc}); fix or delete it") from None
    if not isinstance(value, dict):
        raise ClipError(f"{path}: corrupt (not a JSON object); fix or delete it")
    return value


def _write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")
    temp.replace(path)


def expand_specs(specs: list[str], cache_dir: Path) -> list[str]:
    """Clip specs with every set name replaced by its files (train, then validation).

    A built-in clip name or an existing path stays as it is; anything else must name a set.
    """
    from aiv.video.corpus import CORPUS_NAMES

    expanded: list[str] = []
    for spec in specs:
        if spec in CORPUS_NAMES or Path(spec).exists():
            expanded.append(spec)
        else:
            clip_set = resolve_set(spec, cache_dir)
            expanded += [*clip_set.train, *clip_set.validation]
    return expanded


def campaign_clips(
    clips: list[str] | None,
    validation_clips: list[str] | None,
    corpus: str | None,
    validation_corpus: str | None,
    defaults: tuple[tuple[str, ...], tuple[str, ...]],
    cache_dir: Path,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A campaign's (train, validation) clip specs from `aiv run`'s options.

    Train: `clips` (set names expanded), else `corpus`'s train split, else the defaults. Validation:
    `validation_clips`, else every clip of `validation_corpus`, else `corpus`'s validation split, else
    the defaults. UsageError for two options naming the same clips, or a clip in both lists.
    """
    if clips and corpus:
        raise UsageError("--clips and --corpus both name the train clips; give one of them")
    if validation_clips is not None and validation_corpus:
        raise UsageError("--validation-clips and --validation-corpus both name the validation clips; give one")
    clip_set = resolve_set(corpus, cache_dir) if corpus else None
    train = expand_specs(clips, cache_dir) if clips else list(clip_set.train if clip_set else defaults[0])
    if validation_clips is not None:
        validation = expand_specs(validation_clips, cache_dir)
    elif validation_corpus:
        held_out = resolve_set(validation_corpus, cache_dir)
        validation = [*held_out.train, *held_out.validation]
    else:
        validation = list(clip_set.validation if clip_set else defaults[1])
    shared = sorted(set(train) & set(validation))
    if shared:
        raise UsageError(
            f"{', '.join(shared)}: in both the train and the validation clips; a validation clip "
            f"must be one the search never trains on"
        )
    return tuple(train), tuple(validation)
