"""Rate-distortion curves as a PNG: one panel per clip, PSNR-Y over kbps (log scale), codecs and anchors.

Drawn with OpenCV (already a dependency of the lab): the dashboard's Plotly charts need a browser,
and writing PNGs with Plotly would need another package.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from aiv.comparison import Entry

PANEL_W, PANEL_H = 640, 420
LEFT, RIGHT, TOP, BOTTOM = 62, 16, 44, 46
FONT = cv2.FONT_HERSHEY_SIMPLEX
INK, GRID, WHITE = (40, 40, 40), (225, 225, 225), (255, 255, 255)
CODEC_COLOURS = ((180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148), (75, 86, 140))
ANCHOR_COLOURS = {"x264": (90, 90, 90), "x265": (160, 160, 160)}

Series = tuple[str, list[tuple[float, float]], tuple[int, int, int], bool]  # label, (kbps, dB), colour, dashed


def write_rd_plot(entries: list[Entry], path: Path) -> Path:
    """Draw every reference clip's RD curves (each entry's points, the reference's anchors) into `path` (PNG)."""
    clips = entries[0].record["clips"]
    columns = 1 if len(clips) == 1 else 2
    rows = math.ceil(len(clips) / columns)
    image = np.full((rows * PANEL_H, columns * PANEL_W, 3), WHITE, np.uint8)
    for index, clip in enumerate(clips):
        series = _clip_series(entries, clip)
        row, column = divmod(index, columns)
        panel = image[row * PANEL_H : (row + 1) * PANEL_H, column * PANEL_W : (column + 1) * PANEL_W]
        _draw_panel(panel, f"{clip['name']}  {clip['width']}x{clip['height']}, {clip['frames']} frames", series)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"{path}: OpenCV could not write the PNG")
    return path


def _clip_series(entries: list[Entry], clip: dict) -> list[Series]:
    series: list[Series] = []
    for index, entry in enumerate(entries):
        same = next((c for c in entry.record["clips"] if c["sha256"] == clip["sha256"]), None)
        if same is not None:
            series.append(
                (
                    entry.label,
                    [(p["kbps"], p["psnr_y"]) for p in same["points"]],
                    CODEC_COLOURS[index % len(CODEC_COLOURS)],
                    False,
                )
            )
    for name, points in clip["anchors"].items():
        crfs = [p["crf"] for p in points]
        series.append(
            (
                f"{name} crf {crfs[0]}-{crfs[-1]}",
                [(p["kbps"], p["psnr_y"]) for p in points],
                ANCHOR_COLOURS.get(name, INK),
                True,
            )
        )
    return series


def _draw_panel(panel: np.ndarray, title: str, series: list[Series]) -> None:
    height, width = panel.shape[:2]
    x0, x1, y0, y1 = LEFT, width - RIGHT, height - BOTTOM, TOP
    points = [p for _, pts, _, _ in series for p in pts if p[0] > 0]
    cv2.putText(panel, title, (8, 18), FONT, 0.5, INK, 1, cv2.LINE_AA)
    if not points:
        cv2.putText(panel, "no measured points", (LEFT + 10, TOP + 40), FONT, 0.5, INK, 1, cv2.LINE_AA)
        return
    log_rates = [math.log10(p[0]) for p in points]
    lo_x, hi_x = _padded(min(log_rates), max(log_rates), 0.05)
    lo_y, hi_y = _padded(min(p[1] for p in points), max(p[1] for p in points), 0.06)

    def to_px(kbps: float, db: float) -> tuple[int, int]:
        return (
            round(x0 + (math.log10(kbps) - lo_x) / (hi_x - lo_x) * (x1 - x0)),
            round(y0 - (db - lo_y) / (hi_y - lo_y) * (y0 - y1)),
        )

    for tick in _log_ticks(lo_x, hi_x):
        x = to_px(tick, lo_y)[0]
        cv2.line(panel, (x, y1), (x, y0), GRID, 1)
        _centered(panel, f"{tick:g}", x, y0 + 16)
    for tick in _linear_ticks(lo_y, hi_y):
        y = to_px(10**lo_x, tick)[1]
        cv2.line(panel, (x0, y), (x1, y), GRID, 1)
        cv2.putText(panel, f"{tick:g}", (8, y + 4), FONT, 0.4, INK, 1, cv2.LINE_AA)
    cv2.rectangle(panel, (x0, y1), (x1, y0), INK, 1)
    _centered(panel, "kbps (log scale)", (x0 + x1) // 2, height - 10)
    cv2.putText(panel, "PSNR-Y dB", (8, TOP - 6), FONT, 0.4, INK, 1, cv2.LINE_AA)
    for _label, pts, colour, dashed in series:
        pixels = [to_px(k, q) for k, q in sorted(pts) if k > 0]
        for a, b in zip(pixels, pixels[1:]):
            _dashed_line(panel, a, b, colour) if dashed else cv2.line(panel, a, b, colour, 2, cv2.LINE_AA)
        for pixel in pixels:
            cv2.circle(panel, pixel, 3, colour, -1, cv2.LINE_AA)
    _legend(panel, series, x1 - 8, y0 - 8)


def _padded(low: float, high: float, share: float) -> tuple[float, float]:
    span = high - low or max(abs(high), 1.0) * 0.1
    return low - span * share, high + span * share


def _log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks between 10**lo and 10**hi, thinned to at most eight."""
    ticks = [
        m * 10.0**e
        for e in range(math.floor(lo), math.ceil(hi) + 1)
        for m in (1, 2, 5)
        if lo <= math.log10(m * 10.0**e) <= hi
    ]
    return ticks[:: math.ceil(len(ticks) / 8)] if ticks else [10 ** ((lo + hi) / 2)]


def _linear_ticks(lo: float, hi: float) -> list[float]:
    """Round ticks (steps of 1, 2 or 5 times a power of ten) between lo and hi, about six of them."""
    raw = (hi - lo) / 6
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 6) for i in range(int((hi - first) / step) + 1)]


def _centered(panel: np.ndarray, text: str, x: int, y: int) -> None:
    (w, _), _ = cv2.getTextSize(text, FONT, 0.4, 1)
    cv2.putText(panel, text, (x - w // 2, y), FONT, 0.4, INK, 1, cv2.LINE_AA)


def _dashed_line(panel: np.ndarray, a: tuple[int, int], b: tuple[int, int], colour, dash: int = 7) -> None:
    length = math.dist(a, b)
    for start in range(0, max(int(length), 1), 2 * dash):
        t0, t1 = start / length if length else 0.0, min(start + dash, length) / length if length else 1.0
        p0 = (round(a[0] + (b[0] - a[0]) * t0), round(a[1] + (b[1] - a[1]) * t0))
        p1 = (round(a[0] + (b[0] - a[0]) * t1), round(a[1] + (b[1] - a[1]) * t1))
        cv2.line(panel, p0, p1, colour, 2, cv2.LINE_AA)


def _legend(panel: np.ndarray, series: list[Series], right: int, bottom: int) -> None:
    """The series' names in a box at the bottom right of the plot area (where RD curves rarely run)."""
    widths = [cv2.getTextSize(label, FONT, 0.4, 1)[0][0] for label, *_ in series]
    box_w, line_h = max(widths) + 40, 16
    top, left = bottom - line_h * len(series) - 6, right - box_w
    cv2.rectangle(panel, (left, top), (right, bottom), WHITE, -1)
    cv2.rectangle(panel, (left, top), (right, bottom), GRID, 1)
    for i, (label, _, colour, dashed) in enumerate(series):
        y = top + 6 + line_h * i + line_h // 2
        if dashed:
            _dashed_line(panel, (left + 6, y), (left + 28, y), colour, dash=5)
        else:
            cv2.line(panel, (left + 6, y), (left + 28, y), colour, 2, cv2.LINE_AA)
        cv2.putText(panel, label, (left + 34, y + 4), FONT, 0.4, INK, 1, cv2.LINE_AA)
