"""Plotly figures as plain JSON-able dicts ({"data": [...], "layout": {...}}), drawn in the browser by plotly.js.

Every series differs by marker symbol and line dash as well as colour, so a chart reads without
colour. Text that reaches a figure (clip names, experiment ids, models) is HTML-escaped first:
plotly renders a subset of HTML in titles, legends and hover labels, and that text is hostile input.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

# Okabe-Ito: distinguishable with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
SYMBOLS = (
    "circle",
    "square",
    "diamond",
    "triangle-up",
    "x",
    "star",
    "triangle-down",
    "cross",
    "pentagon",
    "hexagon",
    "circle-open",
    "square-open",
)
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
ANCHOR_STYLES = {"x264": ("#555555", "square-open", "dash"), "x265": ("#999999", "diamond-open", "dot")}
BAR_PATTERNS = ("/", "\\", "x", ".", "+", "-", "|", "")
METRIC_LABELS = {"psnr_y": "PSNR-Y (dB)", "vmaf": "VMAF", "ssim_y": "SSIM-Y"}
SCORE_AXIS = "BD-rate vs x264 (%)"  # lower is better: the pages say so beside each chart


def text(value: object) -> str:
    """`value` as text plotly shows literally (its pseudo-HTML tags and entities escaped)."""
    return html.escape(str(value), quote=False)


def _layout(title: str | None, xaxis: dict, yaxis: dict, **extra) -> dict:
    heading = {"title": {"text": text(title), "x": 0, "xanchor": "left", "font": {"size": 15}}} if title else {}
    return {
        **heading,
        "xaxis": {"automargin": True, "zeroline": False, **xaxis},
        "yaxis": {"automargin": True, "zeroline": False, **yaxis},
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.3, "x": 0},
        "margin": {"l": 10, "r": 10, "t": 40 if title else 15, "b": 10},
        "hovermode": "closest",
        "font": {"family": "system-ui, sans-serif", "size": 12},
        **extra,
    }


def log_axis(title: str, values: Sequence[float]) -> dict:
    """A log-scale axis whose ticks are round numbers (1-2-5, finer over a narrow range) written out in full."""
    axis = {"title": {"text": title}, "type": "log"}
    positive = [v for v in values if v and v > 0]
    if not positive:
        return axis
    low, high = min(positive) / 1.1, max(positive) * 1.1
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    for mantissas in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [m * 10**e for e in decades for m in mantissas if low <= m * 10**e <= high]
        if len(ticks) >= 3:
            break
    return axis | {"tickvals": ticks, "ticktext": [f"{t:,.0f}" if t >= 10 else f"{t:g}" for t in ticks]}


def _series(index: int) -> dict:
    """The colour, marker and dash of the index-th candidate series."""
    return {
        "color": PALETTE[index % len(PALETTE)],
        "symbol": SYMBOLS[index % len(SYMBOLS)],
        "dash": DASHES[index % len(DASHES)],
    }


def _line(
    name: str,
    xs: Sequence,
    ys: Sequence,
    color: str,
    symbol: str,
    dash: str,
    hover: Sequence[str] | None = None,
    mode: str = "lines+markers",
    width: float = 2,
    shape: str = "linear",
    **extra,
) -> dict:
    trace = {
        "type": "scatter",
        "mode": mode,
        "name": text(name),
        "x": list(xs),
        "y": list(ys),
        "line": {"color": color, "dash": dash, "width": width, "shape": shape},
        "marker": {"color": color, "symbol": symbol, "size": 8, "line": {"color": color, "width": 1}},
        **extra,
    }
    if hover is not None:
        trace["text"] = [text(h) for h in hover]
        trace["hoverinfo"] = "text+x+y"
    return trace


def pareto_front(
    points: Sequence[tuple[float, float]], minimise_x: bool, maximise_y: bool
) -> list[tuple[float, float]]:
    """The points no other point beats on both axes, ordered from the best x to the worst."""
    ordered = sorted(points, key=lambda p: (p[0] if minimise_x else -p[0], -p[1] if maximise_y else p[1]))
    front: list[tuple[float, float]] = []
    for point in ordered:
        if not front or (point[1] > front[-1][1] if maximise_y else point[1] < front[-1][1]):
            front.append(point)
    return front


def best_score(points: list[dict], seed_score: float | None = None) -> dict:
    """Each new best train score over time (the "best_history" state), with its validation score.

    The y axis is scaled to the search's progress from the best seed (`seed_score`): a worse seed
    (the intra codec, hundreds of percent above) sits off the scale and is named in a note, so it
    does not flatten the rest. Validation scores are markers at the times they were measured: they
    belong to single experiments, and a line between two of them would suggest values never measured.
    """
    at = [p["at"] for p in points]
    hover = [p["experiment_id"] for p in points]
    scores = [p["score"] for p in points]
    data = [_line("train (best so far)", at, scores, PALETTE[0], "circle", "solid", hover, shape="hv")]
    validation = [p.get("score_validation") for p in points]
    if any(v is not None for v in validation):
        data.append(
            _line(
                "validation of that experiment",
                at,
                validation,
                PALETTE[1],
                "square-open",
                "solid",
                hover,
                mode="markers",
            )
        )
    yaxis: dict = {"title": {"text": SCORE_AXIS}}
    extra: dict = {}
    if seed_score is not None:
        shown = [v for v in scores + validation if v is not None and v <= seed_score]
        low, high = min(shown, default=seed_score), seed_score
        pad = max((high - low) * 0.08, 1.0)
        yaxis["range"] = [low - pad, high + pad]
        extra["shapes"] = [
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": seed_score,
                "y1": seed_score,
                "line": {"color": "#555555", "dash": "dot", "width": 1},
            }
        ]
        notes = [
            {
                "xref": "paper",
                "x": 0,
                "xanchor": "left",
                "y": seed_score,
                "yanchor": "bottom",
                "showarrow": False,
                "text": text(f"best seed {seed_score:+.1f}%"),
                "font": {"size": 11, "color": "#555555"},
            }
        ]
        off_scale = [p for p in points if p["score"] > high + pad]
        if off_scale:
            listed = ", ".join(f"{p['experiment_id']} {p['score']:+.0f}%" for p in off_scale[:3])
            notes.append(
                {
                    "xref": "paper",
                    "yref": "paper",
                    "x": 1,
                    "xanchor": "right",
                    "y": 1,
                    "yanchor": "bottom",
                    "showarrow": False,
                    "text": text(f"above the scale: {listed}"),
                    "font": {"size": 11, "color": "#555555"},
                }
            )
        extra["annotations"] = notes
    return {"data": data, "layout": _layout(None, {"title": {"text": "time (UTC)"}, "type": "date"}, yaxis, **extra)}


def rd_chart(
    clip: dict, metric: str, candidate: str = "candidate", parent: tuple[str, list[dict]] | None = None
) -> dict:
    """Rate-distortion of one clip of an evaluation record: the candidate against the x264/x265 anchors and,
    when given, its parent's points on the same frames (`parent` = (label, points))."""
    points = [p for p in clip["points"] if p.get(metric) is not None]
    data = [
        _line(
            candidate,
            [p["kbps"] for p in points],
            [p[metric] for p in points],
            PALETTE[0],
            "circle",
            "solid",
            [f"quality {p['quality']:g}" for p in points],
            width=3,
        )
    ]
    if parent is not None:
        label, parent_points = parent
        shown = [p for p in parent_points if p.get(metric) is not None]
        data.append(
            _line(
                label,
                [p["kbps"] for p in shown],
                [p[metric] for p in shown],
                PALETTE[1],
                "triangle-up",
                "longdash",
                [f"{label} quality {p['quality']:g}" for p in shown],
            )
        )
    for name, anchor in sorted(clip.get("anchors", {}).items()):
        shown = [p for p in anchor if p.get(metric) is not None]
        color, symbol, dash = ANCHOR_STYLES.get(name, ("#777777", "x", "dashdot"))
        data.append(
            _line(
                name,
                [p["kbps"] for p in shown],
                [p[metric] for p in shown],
                color,
                symbol,
                dash,
                [f"{name} crf {p['crf']}" for p in shown],
            )
        )
    return {
        "data": data,
        "layout": _layout(
            f"{clip['name']}: {METRIC_LABELS[metric]} against rate",
            log_axis("kbps (log scale)", [x for trace in data for x in trace["x"]]),
            {"title": {"text": METRIC_LABELS[metric]}},
        ),
    }


def frame_psnr_chart(clip: dict) -> dict:
    """PSNR-Y of every frame of one clip, one series per quality point."""
    data = []
    for index, point in enumerate(clip["points"]):
        frames = point.get("psnr_y_frames") or []
        style = _series(index)
        data.append(
            _line(
                f"quality {point['quality']:g} ({point['kbps']:.0f} kbps)",
                list(range(len(frames))),
                frames,
                style["color"],
                style["symbol"],
                style["dash"],
                width=1.5,
            )
        )
    return {
        "data": data,
        "layout": _layout(
            f"{clip['name']}: PSNR-Y per frame", {"title": {"text": "frame"}}, {"title": {"text": "PSNR-Y (dB)"}}
        ),
    }


def pareto_rate_chart(clip_name: str, curves: list[tuple[str, list[dict]]], anchors: dict[str, list[dict]]) -> dict:
    """Rate against PSNR-Y on one clip: each experiment's RD curve, the anchors, and the candidates' Pareto front."""
    data, every = [], []
    for index, (name, points) in enumerate(curves):
        style = _series(index)
        data.append(
            _line(
                name,
                [p["kbps"] for p in points],
                [p["psnr_y"] for p in points],
                style["color"],
                style["symbol"],
                style["dash"],
                [f"{name} quality {p['quality']:g}" for p in points],
                width=1.5,
            )
        )
        every += [(p["kbps"], p["psnr_y"]) for p in points]
    for name, anchor in sorted(anchors.items()):
        color, symbol, dash = ANCHOR_STYLES.get(name, ("#777777", "x", "dashdot"))
        data.append(
            _line(
                name,
                [p["kbps"] for p in anchor],
                [p["psnr_y"] for p in anchor],
                color,
                symbol,
                dash,
                [f"{name} crf {p['crf']}" for p in anchor],
            )
        )
    front = pareto_front(every, minimise_x=True, maximise_y=True)
    if front:
        data.append(
            _line(
                "Pareto front of the candidates",
                [p[0] for p in front],
                [p[1] for p in front],
                "#000000",
                "star",
                "solid",
                mode="lines+markers",
                width=4,
                shape="hv",
                opacity=0.55,
            )
        )
    return {
        "data": data,
        "layout": _layout(
            f"{clip_name}: rate against PSNR-Y, best experiments",
            log_axis("kbps (log scale)", [x for trace in data for x in trace["x"]]),
            {"title": {"text": "PSNR-Y (dB), higher is better"}},
        ),
    }


def pareto_speed_chart(points: list[dict]) -> dict:
    """Score against encode speed ({"label", "encode_fps", "score"} each), with the Pareto front."""
    data = [
        _line(
            "experiments",
            [p["encode_fps"] for p in points],
            [p["score"] for p in points],
            PALETTE[0],
            "circle",
            "solid",
            [p["label"] for p in points],
            mode="markers+text",
            textposition="top center",
            textfont={"size": 10},
        )
    ]
    front = pareto_front([(p["encode_fps"], p["score"]) for p in points], minimise_x=False, maximise_y=False)
    if front:
        data.append(
            _line(
                "Pareto front (faster and better)",
                [p[0] for p in front],
                [p[1] for p in front],
                "#000000",
                "star",
                "solid",
                width=3,
                shape="hv",
                opacity=0.6,
            )
        )
    return {
        "data": data,
        "layout": _layout(
            "Score against encode speed",
            log_axis("encode speed, frames/s (log scale)", [p["encode_fps"] for p in points]),
            {"title": {"text": SCORE_AXIS}},
        ),
    }


def daily_cost_chart(daily: list[dict]) -> dict:
    """Spend per day, stacked by CostCategory, each category with its own fill pattern."""
    categories = sorted({name for day in daily for name in day.get("by_category", {})})
    data = []
    for index, name in enumerate(categories):
        data.append(
            {
                "type": "bar",
                "name": text(name),
                "x": [day["date"] for day in daily],
                "y": [day.get("by_category", {}).get(name, 0.0) for day in daily],
                "marker": {
                    "color": PALETTE[index % len(PALETTE)],
                    "pattern": {
                        "shape": BAR_PATTERNS[index % len(BAR_PATTERNS)],
                        "fillmode": "overlay",
                        "fgcolor": "#ffffff",
                        "fgopacity": 0.7,
                    },
                },
            }
        )
    return {
        "data": data,
        "layout": _layout(
            None, {"title": {"text": "day"}, "type": "date"}, {"title": {"text": "USD"}}, barmode="stack"
        ),
    }
