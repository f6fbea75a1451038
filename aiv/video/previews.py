"""Browser-playable previews: an H.264 MP4 of a clip's frames (the source, or a codec's decoded frames).

A preview is a re-encode for looking at, never a measurement: every number on the dashboard comes
from the decoded frames themselves. The evaluate step (aiv/cascade.py) stores, through a
PreviewMaker, one preview of the decoded frames per clip at one quality point
(`aiv.results.preview_quality_index`) and one of each source clip, under the keys below.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from aiv.errors import ClipError
from aiv.results import preview_quality_index
from aiv.store.ports import ArtifactStore
from aiv.video.clip import Clip, safe_clip_name

PREVIEW_CRF = 16  # visually close to the decoded frames, so the preview shows the codec's artefacts, not x264's
PREVIEW_PRESET = "fast"


def recon_preview_key(experiment_id: str, clip_name: str) -> str:
    """The artifact key of the preview of an experiment's decoded frames of one clip."""
    return f"previews/{experiment_id}/{safe_clip_name(clip_name)}.mp4"


def source_preview_key(clip_sha256: str) -> str:
    """The artifact key of the preview of a source clip (shared by every experiment that used it)."""
    return f"previews/source/{clip_sha256}.mp4"


def preview_entry(experiment_id: str, clip: Clip, quality: float) -> dict:
    """The `preview` object of a clip in the result record: {"quality", "recon_key", "source_key"}."""
    return {
        "quality": quality,
        "recon_key": recon_preview_key(experiment_id, clip.name),
        "source_key": source_preview_key(clip.sha256),
    }


def make_preview_mp4(y: np.ndarray, u: np.ndarray, v: np.ndarray, fps: float) -> bytes:
    """Encode 8-bit 4:2:0 planes (y [T,H,W], u/v [T,H/2,W/2]) as a progressive-download H.264 MP4.

    libx264 at CRF 16 (preset fast), yuv420p, with the index at the front (faststart) so a browser
    starts playing before the whole file arrives. ClipError names what is wrong with bad planes.
    """
    from aiv.video.pyav_writer import encode_clip  # here, not at the top: importing this module needs no PyAV

    try:
        clip = Clip("preview", y, u, v, float(fps))
    except (ValueError, AttributeError, TypeError) as error:
        raise ClipError(f"cannot make a preview: {error}") from None
    # faststart rewrites the finished file from its start, which the muxer does by reopening it by
    # name: it cannot work on an in-memory buffer, so the MP4 is written to a temporary file.
    with tempfile.TemporaryDirectory(prefix="aiv-preview-") as folder:
        path = Path(folder) / "preview.mp4"
        encode_clip(
            clip,
            str(path),
            "mp4",
            "libx264",
            {"crf": str(PREVIEW_CRF), "preset": PREVIEW_PRESET},
            {"movflags": "+faststart"},
        )
        return path.read_bytes()


class PreviewMaker:
    """Stores a browser-playable preview of the decoded frames of each clip at one quality point,
    and of each source clip once, and notes their keys in the evaluation record."""

    def __init__(self, artifacts: ArtifactStore, experiment_id: str, qualities: tuple[float, ...]):
        self.artifacts, self.experiment_id = artifacts, experiment_id
        self.quality = qualities[preview_quality_index(qualities)]
        self.entries: dict[str, dict] = {}

    def on_decoded(self, clip: Clip, point: dict, planes: tuple) -> None:
        """The evaluator's callback for each decoded point: keeps the preview quality's frames."""
        if point["quality"] != self.quality:
            return
        entry = preview_entry(self.experiment_id, clip, self.quality)
        self.artifacts.put(entry["recon_key"], make_preview_mp4(*planes, clip.fps), "video/mp4")
        if not self.artifacts.exists(entry["source_key"]):
            self.artifacts.put(entry["source_key"], make_preview_mp4(clip.y, clip.u, clip.v, clip.fps), "video/mp4")
        self.entries[clip.name] = entry

    def annotate(self, record: dict) -> None:
        """Add each previewed clip's `preview` entry to the evaluation record."""
        for clip_record in record["clips"]:
            if clip_record["name"] in self.entries:
                clip_record["preview"] = self.entries[clip_record["name"]]
