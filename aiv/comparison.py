"""Comparing evaluation records: per-clip and mean BD-rate of each codec against the first one.

Clips are matched by the hash of the frames measured (`clip.sha256`), so two records are compared
only on the same frames; a clip of the reference that another record lacks, or measured on other
frames, is named, never skipped silently. BD-rate is computed on PSNR-Y always and on VMAF when
both records measured it at every point. Pure functions over result.json records.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from aiv.errors import UsageError
from aiv.metrics.bdrate import bd_rate

COMPARED_METRICS: tuple[str, ...] = ("psnr_y", "vmaf")
METRIC_NAMES = {"psnr_y": "PSNR-Y", "vmaf": "VMAF"}
CSV_COLUMNS = ("codec", "reference", "clip", "metric", "bd_rate", "reason", "caveat")


@dataclass(frozen=True)
class Entry:
    """One record to compare: its label (a file or an experiment id), where it came from, the evaluation."""

    label: str
    source: str
    record: dict


def check_comparable(entry: Entry) -> None:
    """Raise UsageError unless `entry` holds a finished evaluation record (README, "Output: result.json")."""
    record = entry.record
    if not isinstance(record, dict) or not isinstance(record.get("clips"), list) or "codec" not in record:
        raise UsageError(
            f"{entry.source}: not an evaluation record (no codec and clips); "
            "pass a result.json written by `aiv evaluate` or an experiment id"
        )
    if record.get("status") != "ok":
        failure = record.get("failure") or {}
        raise UsageError(
            f"{entry.source}: the evaluation did not finish (status {record.get('status')}, "
            f"failed at {failure.get('stage')}: {failure.get('reason')}); only finished evaluations "
            "can be compared"
        )


def compare(entries: list[Entry]) -> dict:
    """The comparison of entries[1:] against entries[0] (see the JSON of `aiv compare --json`)."""
    if len(entries) < 2:
        raise UsageError("compare needs at least two results: the reference first, then the others")
    for entry in entries:
        check_comparable(entry)
    reference = entries[0]
    return {
        "reference": _describe(reference),
        "clips": [{"name": c["name"], "sha256": c["sha256"], "frames": c["frames"]} for c in reference.record["clips"]],
        "entries": [_describe(entry) for entry in entries],
        "against_reference": [bd_rates_against(reference, entry) for entry in entries[1:]],
    }


def _describe(entry: Entry) -> dict:
    record = entry.record
    summary = record.get("summary") or {}
    return {
        "label": entry.label,
        "source": entry.source,
        "codec": record["codec"],
        "codec_sha256": record.get("codec_sha256"),
        "headline": {key: summary.get(key) for key in ("bd_rate_x264_psnr_y", "bd_rate_x265_psnr_y")},
    }


def _measured(points: list[dict], metric: str) -> bool:
    return bool(points) and all(p.get(metric) is not None for p in points)


def bd_rates_against(reference: Entry, entry: Entry) -> dict:
    """BD-rate of `entry` against `reference` on each reference clip, and the mean over the clips."""
    by_hash = {c["sha256"]: c for c in entry.record["clips"]}
    by_name = {c["name"]: c for c in entry.record["clips"]}
    clips: dict[str, dict] = {}
    for ref_clip in reference.record["clips"]:
        other = by_hash.get(ref_clip["sha256"])
        clips[ref_clip["name"]] = {
            metric: _clip_bd_rate(ref_clip, other, by_name.get(ref_clip["name"]), metric) for metric in COMPARED_METRICS
        }
    mean, not_comparable, caveats = {}, {}, {}
    for metric in COMPARED_METRICS:
        results = {name: rates[metric] for name, rates in clips.items()}
        reasons = [f"{name}: {r['reason']}" for name, r in results.items() if r["value"] is None]
        values = [r["value"] for r in results.values() if r["value"] is not None]
        mean[metric] = sum(values) / len(values) if values and not reasons else None
        if reasons:
            not_comparable[metric] = "; ".join(reasons)
        elif any(r["caveat"] for r in results.values()):
            caveats[metric] = "; ".join(f"{name}: {r['caveat']}" for name, r in results.items() if r["caveat"])
    return {"label": entry.label, "clips": clips, "mean": mean, "not_comparable": not_comparable, "caveats": caveats}


def _clip_bd_rate(ref_clip: dict, other: dict | None, same_name: dict | None, metric: str) -> dict:
    if other is None:
        reason = "measured on other frames (clip hashes differ)" if same_name is not None else "not in this result"
        return {"value": None, "reason": reason, "caveat": None}
    if not (_measured(ref_clip["points"], metric) and _measured(other["points"], metric)):
        return {"value": None, "reason": f"{METRIC_NAMES[metric]} was not measured in both results", "caveat": None}
    return bd_rate(
        [(p["kbps"], p[metric]) for p in ref_clip["points"]], [(p["kbps"], p[metric]) for p in other["points"]]
    ).as_dict()


def _percent(result: dict | float | None) -> str:
    if isinstance(result, dict):
        if result["value"] is None:
            return "n/c"
        return f"{result['value']:+.2f}%" + ("*" if result.get("caveat") else "")
    return "n/c" if result is None else f"{result:+.2f}%"


def format_comparison(comparison: dict) -> str:
    """The comparison as text: one table per compared codec, clips in rows, then notes and headlines."""
    ref = comparison["reference"]
    lines = [
        f"reference: {ref['label']}  ({ref['source']})",
        "BD-rate against the reference (negative: fewer bits for the same quality)",
    ]
    for against in comparison["against_reference"]:
        lines += ["", f"{against['label']} vs {ref['label']}", f"  {'clip':<28}{'PSNR-Y':>12}{'VMAF':>12}"]
        for name, rates in against["clips"].items():
            lines.append(f"  {name:<28}{_percent(rates['psnr_y']):>12}{_percent(rates['vmaf']):>12}")
        mean = against["mean"]
        mark = {m: "*" if m in against["caveats"] else "" for m in COMPARED_METRICS}
        lines.append(
            f"  {'mean':<28}{_percent(mean['psnr_y']) + mark['psnr_y']:>12}{_percent(mean['vmaf']) + mark['vmaf']:>12}"
        )
        for metric, reason in against["not_comparable"].items():
            lines.append(f"  n/c {METRIC_NAMES[metric]}: {reason}")
        for metric, caveat in against["caveats"].items():
            lines.append(f"  * {METRIC_NAMES[metric]}: {caveat}")
    lines += ["", "each one's own headline, mean BD-rate on PSNR-Y:"]
    for entry in comparison["entries"]:
        headline = entry["headline"]
        lines.append(
            f"  {entry['label']:<28} vs x264 {_percent(headline['bd_rate_x264_psnr_y']):>10}"
            f"   vs x265 {_percent(headline['bd_rate_x265_psnr_y']):>10}"
        )
    return "\n".join(lines)


def comparison_csv(comparison: dict) -> str:
    """The comparison as CSV, one row per codec, clip and metric, and a "mean" clip row per codec and metric."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    reference = comparison["reference"]["label"]
    for against in comparison["against_reference"]:
        for name, rates in against["clips"].items():
            for metric in COMPARED_METRICS:
                r = rates[metric]
                writer.writerow(
                    (
                        against["label"],
                        reference,
                        name,
                        metric,
                        _csv_number(r["value"]),
                        r["reason"] or "",
                        r.get("caveat") or "",
                    )
                )
        for metric in COMPARED_METRICS:
            writer.writerow(
                (
                    against["label"],
                    reference,
                    "mean",
                    metric,
                    _csv_number(against["mean"][metric]),
                    against["not_comparable"].get(metric, ""),
                    against["caveats"].get(metric, ""),
                )
            )
    return buffer.getvalue()


def _csv_number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def against_parent(parent_id: str, parent_outcome: dict, outcome: dict) -> dict | None:
    """{"parent", "train"?, "validation"?}: the BD-rate of an experiment's evaluations against its parent's on
    the same splits (each as `bd_rates_against` gives it), for the splits both finished; None if neither did."""
    splits = {}
    for split in ("train", "validation"):
        mine, theirs = outcome.get(split), parent_outcome.get(split)
        if mine and theirs and mine.get("status") == "ok" and theirs.get("status") == "ok":
            splits[split] = bd_rates_against(
                Entry(parent_id, f"experiment {parent_id}", theirs), Entry("this", "this experiment", mine)
            )
    return {"parent": parent_id, **splits} if splits else None
