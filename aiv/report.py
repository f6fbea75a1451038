"""Readable text for an evaluation record: per-clip RD tables, BD-rates and the headline."""

from __future__ import annotations


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _bd(result: dict | None) -> str:
    if result is None:
        return "-"
    if result["value"] is None:
        return "n/c"
    return f"{result['value']:+.1f}%" + ("*" if result.get("caveat") else "")


def format_record(record: dict) -> str:
    """The whole evaluation as text: one RD table per clip, then the summary or the failure."""
    lines = [f"codec {record['codec']['name']} ({record['codec']['origin']})  sha256 {record['codec_sha256'][:12]}"]
    header = f"  {'point':<12}{'kbps':>10}{'PSNR-Y':>9}{'PSNR-YUV':>10}{'SSIM-Y':>8}{'VMAF':>7}{'enc s':>8}{'dec s':>8}"
    for clip in record["clips"]:
        lines.append("")
        lines.append(
            f"{clip['name']}  {clip['width']}x{clip['height']}  {clip['frames']} frames @ {clip['fps']:.3f} fps"
        )
        lines.extend(f"  note: {note}" for note in clip["notes"])
        lines.append(header)
        for p in clip["points"]:
            lines.append(
                f"  {'q=' + format(p['quality'], '.2f'):<12}{p['kbps']:>10.1f}{p['psnr_y']:>9.2f}"
                f"{p['psnr_yuv']:>10.2f}{p['ssim_y']:>8.4f}{_num(p['vmaf'], '.2f'):>7}"
                f"{p['encode_s']:>8.2f}{p['decode_s']:>8.2f}"
            )
        for name, points in clip["anchors"].items():
            for p in points:
                lines.append(
                    f"  {name + ' crf' + str(p['crf']):<12}{p['kbps']:>10.1f}{p['psnr_y']:>9.2f}"
                    f"{p['psnr_yuv']:>10.2f}{p['ssim_y']:>8.4f}{_num(p['vmaf'], '.2f'):>7}"
                )
        for name, rates in clip["bd_rate"].items():
            reasons = [f"{metric}: {r['reason']}" for metric, r in rates.items() if r["value"] is None]
            line = f"  BD-rate vs {name}: PSNR-Y {_bd(rates.get('psnr_y'))}  VMAF {_bd(rates.get('vmaf'))}"
            lines.append(line + (f"  (n/c = not comparable; {'; '.join(reasons)})" if reasons else ""))
            caveats = sorted({r["caveat"] for r in rates.values() if r.get("caveat")})
            lines.extend(f"    * {caveat}" for caveat in caveats)
    lines.append("")
    if record["status"] == "failed":
        f = record["failure"]
        where = ", ".join(
            x
            for x in (f["clip"] and f"clip {f['clip']}", f["quality"] is not None and f"quality {f['quality']:.2f}")
            if x
        )
        lines.append(f"FAILED at {f['stage']}{' (' + where + ')' if where else ''}: {f['reason']}")
    else:
        s = record["summary"]
        lines.append("headline, mean BD-rate over clips (negative beats the anchor):")
        for key in ("bd_rate_x264_psnr_y", "bd_rate_x265_psnr_y", "bd_rate_x264_vmaf"):
            value = s.get(key)
            shown = f"{value:+.1f}%" if value is not None else f"not comparable ({s['not_comparable'].get(key)})"
            caveat = (s.get("caveats") or {}).get(key)
            lines.append(f"  {key:<22} {shown}" + (f"  (* {caveat})" if caveat else ""))
    return "\n".join(lines)
