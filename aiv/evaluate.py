"""The evaluator: measures one candidate codec on clips, honestly, against x264/x265 anchors.

The candidate encodes in one sandboxed process and decodes in another; the harness measures the
bitstream's length, checks the decoded planes exactly and computes every metric itself. Any
failure ends the evaluation with its stage and reason; points measured before it are kept.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from aiv.codec.contract import CodecSource, check_decoded
from aiv.codec.sandbox import Limits, isolation_report, run_decode, run_encode
from aiv.codec.sandbox_child import DEVICES
from aiv.errors import ClipError, CodecFailure, MetricError, UsageError
from aiv.metrics.anchors import ANCHORS, AnchorSettings, anchor_points, anchor_settings
from aiv.metrics.bdrate import bd_rate
from aiv.metrics.measure import measure_quality
from aiv.metrics.quality import SSIM_RADIUS
from aiv.metrics.rate import kbps
from aiv.progress import Progress
from aiv.provenance import lab_commit, tool_versions
from aiv.settings import DEFAULT_ANCHOR_CRFS, DEFAULT_ANCHOR_PRESET, DEFAULT_QUALITIES, check_anchor_options
from aiv.video.clip import Clip, safe_clip_name
from aiv.video.y4m import write_y4m

BD_METRICS: tuple[str, ...] = ("psnr_y", "vmaf")
HARNESS_STAGE = "harness"  # a failure of the lab's own measurement (a metric, an anchor), never the codec's
SSIM_WINDOW = 2 * SSIM_RADIUS + 1
SUMMARY_KEYS: tuple[tuple[str, str], ...] = (("x264", "psnr_y"), ("x265", "psnr_y"), ("x264", "vmaf"))


@dataclass(frozen=True)
class EvalSettings:
    """How a codec is evaluated: the quality points, sandbox limits and what is measured."""

    qualities: tuple[float, ...] = DEFAULT_QUALITIES
    limits: Limits = field(default_factory=Limits)
    vmaf: bool = True
    anchors: tuple[str, ...] = ("x264", "x265")
    anchor_crfs: tuple[int, ...] = DEFAULT_ANCHOR_CRFS
    anchor_preset: str = DEFAULT_ANCHOR_PRESET
    keep_artifacts: bool = False
    device: str = "cpu"
    cache_dir: Path | None = None

    def __post_init__(self) -> None:
        shown = ",".join(f"{q:g}" for q in self.qualities) or "none"
        if not self.qualities or any(not 0.0 <= q <= 1.0 for q in self.qualities):
            raise UsageError(f"qualities must be in [0, 1], got {shown}")
        if list(self.qualities) != sorted(set(self.qualities)):
            raise UsageError(f"qualities must be distinct and increasing, got {shown}")
        unknown = [name for name in self.anchors if name not in ANCHORS]
        if unknown:
            raise UsageError(f"unknown anchors {', '.join(unknown)}; known: {', '.join(ANCHORS)}")
        check_anchor_options(self.anchor_crfs, self.anchor_preset)
        if self.device not in DEVICES:
            raise UsageError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")

    def anchor(self, name: str) -> AnchorSettings:
        """The settings of anchor `name` at this evaluation's CRF points and preset."""
        return anchor_settings(name, self.anchor_crfs, self.anchor_preset)

    def as_record(self) -> dict:
        """The settings as stored in result.json."""
        record = asdict(self)
        record["cache_dir"] = None
        record["anchor_settings"] = {name: asdict(self.anchor(name)) for name in self.anchors}
        return record


OnDecoded = Callable[[Clip, dict, tuple[np.ndarray, np.ndarray, np.ndarray]], None]


def evaluate(
    codec: CodecSource,
    clips: list[Clip],
    settings: EvalSettings,
    out_dir: Path | None = None,
    show_progress: bool = True,
    on_decoded: OnDecoded | None = None,
) -> dict:
    """Evaluate `codec` on `clips`; return the result record (see README, "Output").

    Writes bitstreams and reconstructions under `out_dir` when settings.keep_artifacts is set.
    `on_decoded(clip, point, planes)` is called with each measured point's decoded planes (the
    point dict may be extended, e.g. with the key of a preview made from them).
    """
    for clip in clips:
        check_measurable(clip)
    record = _new_record(codec, clips, settings)
    steps = len(clips) * (len(settings.qualities) + len(settings.anchors))
    progress = Progress(steps, codec.name, enabled=show_progress)
    try:
        for clip, clip_record in zip(clips, record["clips"]):
            _measure_codec(codec, clip, clip_record, settings, out_dir, progress, on_decoded)
        for clip, clip_record in zip(clips, record["clips"]):
            for name in settings.anchors:
                progress.step(f"{clip.name} anchor {name}")
                try:
                    clip_record["anchors"][name] = anchor_points(
                        clip,
                        settings.anchor(name),
                        lambda planes, c=clip: _quality_fields(c, planes, settings),
                        _metrics_key(settings),
                        settings.cache_dir,
                    )
                except MetricError:
                    raise
                except Exception as error:  # the anchor encoder or its decode: the harness's, never the codec's
                    raise MetricError(f"anchor {name} on {clip.name}: {type(error).__name__}: {error}") from error
                progress.advance()
            clip_record["bd_rate"] = _clip_bd_rates(clip_record, settings)
    except CodecFailure as failure:
        record["status"] = "failed"
        record["failure"] = failure.as_dict()
        return record
    except MetricError as error:  # after the codec ran: a metric or an anchor failed, which is the harness's fault
        record["status"] = "failed"
        record["failure"] = {"stage": HARNESS_STAGE, "clip": None, "quality": None, "reason": str(error)}
        return record
    finally:
        progress.close()
    record["status"] = "ok"
    record["summary"] = summarise(record["clips"])
    return record


def check_measurable(clip: Clip) -> None:
    """ClipError unless every metric can measure `clip` (checked before any codec runs)."""
    if min(clip.width, clip.height) < SSIM_WINDOW:
        raise ClipError(
            f"clip {clip.name} is {clip.width}x{clip.height}: SSIM needs frames of at least "
            f"{SSIM_WINDOW}x{SSIM_WINDOW} (its window)"
        )


def refused_record(codec: CodecSource, clips: list[Clip], settings: EvalSettings, stage: str, reason: str) -> dict:
    """The result of a codec refused before it ran (say by the static policy): failed at `stage`, nothing measured."""
    record = _new_record(codec, clips, settings)
    record["status"] = "failed"
    record["failure"] = {"stage": stage, "clip": None, "quality": None, "reason": reason}
    return record


def empty_clip_record(clip: Clip) -> dict:
    """A clip's entry in an evaluation record before anything is measured on it."""
    return {
        "name": clip.name,
        "sha256": clip.sha256,
        "source": clip.source,
        "notes": list(clip.notes),
        "width": clip.width,
        "height": clip.height,
        "frames": clip.frames,
        "fps": clip.fps,
        "points": [],
        "anchors": {},
        "bd_rate": {},
    }


def _new_record(codec: CodecSource, clips: list[Clip], settings: EvalSettings) -> dict:
    provenance = lab_commit()
    return {
        "status": "running",
        "failure": None,
        "codec": {"name": codec.name, "origin": codec.origin},
        "codec_sha256": codec.sha256,
        "lab_commit": provenance["commit"],
        "lab_dirty": provenance["dirty"],
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": tool_versions(),
        "settings": settings.as_record(),
        "isolation": isolation_report(),
        "clips": [empty_clip_record(clip) for clip in clips],
        "summary": None,
    }


def _measure_codec(
    codec: CodecSource,
    clip: Clip,
    clip_record: dict,
    settings: EvalSettings,
    out_dir: Path | None,
    progress: Progress,
    on_decoded: OnDecoded | None,
) -> None:
    """Encode, decode, check and measure every quality point of `codec` on `clip`."""
    for quality in settings.qualities:
        try:
            progress.step(f"{clip.name} q={quality:.2f} encode")
            encoded = run_encode(
                codec.source,
                clip.y,
                clip.u,
                clip.v,
                clip.fps,
                quality,
                settings.limits,
                codec_file=codec.file_name,
                device=settings.device,
            )
            progress.step(f"{clip.name} q={quality:.2f} decode")
            decoded = run_decode(
                codec.source, encoded.bitstream, settings.limits, codec_file=codec.file_name, device=settings.device
            )
            planes = (decoded.y, decoded.u, decoded.v)
            check_decoded((clip.y, clip.u, clip.v), planes)
            _check_monotone(clip_record["points"], quality, len(encoded.bitstream))
        except CodecFailure as failure:
            failure.clip, failure.quality = clip.name, quality
            raise
        progress.step(f"{clip.name} q={quality:.2f} metrics")
        point = {
            "quality": quality,
            "bytes": len(encoded.bitstream),
            "kbps": kbps(len(encoded.bitstream), clip.fps, clip.frames),
            "bitstream_sha256": hashlib.sha256(encoded.bitstream).hexdigest(),
        }
        try:  # the decoded planes passed the contract's checks: a metric that fails now is the harness's
            point.update(_quality_fields(clip, planes, settings, per_frame=True))
        except ValueError as error:
            raise MetricError(f"{clip.name} at quality {quality:.2f}: {error}") from error
        point.update(
            {
                "encode_s": round(encoded.seconds, 4),
                "decode_s": round(decoded.seconds, 4),
                "bitstream": None,
                "recon": None,
            }
        )
        if settings.keep_artifacts and out_dir is not None:
            point.update(_write_artifacts(out_dir, clip, quality, encoded.bitstream, planes))
        if on_decoded is not None:
            on_decoded(clip, point, planes)
        clip_record["points"].append(point)
        progress.advance()


def _quality_fields(clip: Clip, planes, settings: EvalSettings, per_frame: bool = False) -> dict:
    fields = measure_quality(clip, planes, settings.vmaf, settings.device)
    if not per_frame:
        fields.pop("psnr_y_frames")
    return fields


def _metrics_key(settings: EvalSettings) -> str:
    return "psnr-ssim-vmaf" if settings.vmaf else "psnr-ssim"


def _check_monotone(points: list[dict], quality: float, num_bytes: int) -> None:
    """The contract: a higher quality never gives fewer bits."""
    if points and num_bytes < points[-1]["bytes"]:
        previous = points[-1]
        raise CodecFailure(
            "check",
            f"quality is not monotone: quality {quality:.2f} gave {num_bytes} bytes, "
            f"fewer than {previous['bytes']} bytes at quality {previous['quality']:.2f}",
        )


def _write_artifacts(out_dir: Path, clip: Clip, quality: float, bitstream: bytes, planes) -> dict:
    """Keep the exact bitstream and the decoded frames (.y4m); return their paths relative to out_dir."""
    folder = Path("artifacts") / safe_clip_name(clip.name)
    (out_dir / folder).mkdir(parents=True, exist_ok=True)
    stem = f"q{quality:.2f}"
    bitstream_path, recon_path = folder / f"{stem}.bin", folder / f"{stem}.y4m"
    (out_dir / bitstream_path).write_bytes(bitstream)
    write_y4m(out_dir / recon_path, Clip(clip.name, *planes, fps=clip.fps))
    return {"bitstream": str(bitstream_path), "recon": str(recon_path)}


def _clip_bd_rates(clip_record: dict, settings: EvalSettings) -> dict:
    """BD-rate of the codec against each anchor on PSNR-Y and VMAF, or null with a reason."""
    rates = {}
    for name, anchor in clip_record["anchors"].items():
        rates[name] = {}
        for metric in BD_METRICS:
            if metric == "vmaf" and not settings.vmaf:
                rates[name][metric] = {"value": None, "reason": "VMAF was not measured (--no-vmaf)", "caveat": None}
                continue
            result = bd_rate(
                [(p["kbps"], p[metric]) for p in anchor], [(p["kbps"], p[metric]) for p in clip_record["points"]]
            )
            rates[name][metric] = result.as_dict()
    return rates


def summarise(clip_records: list[dict]) -> dict:
    """The headline: mean BD-rate over clips, null with the reason when any clip is not comparable.

    "caveats" holds, per headline key, the clips whose BD-rate rests on fewer points than the CTC use.
    """
    summary: dict = {"not_comparable": {}, "caveats": {}}
    for anchor, metric in SUMMARY_KEYS:
        key = f"bd_rate_{anchor}_{metric}"
        values, reasons, caveats = [], [], []
        for clip in clip_records:
            result = clip["bd_rate"].get(anchor, {}).get(metric)
            if result is None:
                reasons.append(f"{clip['name']}: no {anchor} anchor was measured")
            elif result["value"] is None:
                reasons.append(f"{clip['name']}: {result['reason']}")
            else:
                values.append(result["value"])
                if result.get("caveat"):
                    caveats.append(f"{clip['name']}: {result['caveat']}")
        summary[key] = float(np.mean(values)) if values and not reasons else None
        if reasons:
            summary["not_comparable"][key] = "; ".join(reasons)
        elif caveats:
            summary["caveats"][key] = "; ".join(caveats)
    return summary


def write_result(record: dict, out_dir: Path) -> Path:
    """Write `record` to out_dir/result.json atomically; return the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "result.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)
    return path
