"""Bjøntegaard delta rate (BD-rate) as in the JVET/JCT-VC common test conditions.

Each curve's log10(rate) is interpolated as a function of quality by a piecewise cubic Hermite
polynomial (PCHIP, the CTC spreadsheet's method; scipy's PchipInterpolator uses the same slopes)
and integrated over the quality interval both curves cover. The mean log-rate difference d
gives BD-rate = (10^d - 1) * 100 percent: negative means the test codec needs fewer bits for
the same quality. Quality can be any "higher is better" score (PSNR in dB, VMAF).

When the curves cannot be compared honestly the result carries no number, only the reason:
- fewer than MIN_POINTS points on a curve (the CTC use 4; PCHIP needs 2, which is a straight
  line in log-rate, so the lab accepts 2 and more),
- a non-finite number, a rate that is not positive, two points at the same rate,
- quality that does not strictly rise with rate (the points are named),
- quality ranges that overlap by less than `min_overlap` of the smaller of the two ranges
  (DEFAULT_MIN_OVERLAP = 25 %), or not at all.

A number from fewer than CTC_POINTS points on either curve is given with a caveat: with two or
three points the interpolation is close to a straight line and the number says less.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator

MIN_POINTS = 2
CTC_POINTS = 4  # points per curve in the common test conditions
DEFAULT_MIN_OVERLAP = 0.25

Point = tuple[float, float]  # (kbps, quality)


@dataclass(frozen=True)
class BdRate:
    """A BD-rate in percent, or None with the reason the curves are not comparable; a caveat when
    the number rests on fewer points than the common test conditions use."""

    value: float | None
    reason: str | None
    caveat: str | None = None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.reason is None):
            raise ValueError("BdRate needs exactly one of value and reason")
        if self.caveat is not None and self.value is None:
            raise ValueError("a BdRate caveat qualifies a value")

    def as_dict(self) -> dict:
        """{"value": percent or None, "reason": None or why not comparable, "caveat": None or what to mind}."""
        return {"value": self.value, "reason": self.reason, "caveat": self.caveat}


class _NotComparable(Exception):
    pass


def bd_rate(anchor: Sequence[Point], test: Sequence[Point], min_overlap: float = DEFAULT_MIN_OVERLAP) -> BdRate:
    """BD-rate of `test` against `anchor`, each a sequence of (kbps, quality) points in any order."""
    if not 0.0 <= min_overlap <= 1.0:
        raise ValueError(f"min_overlap must be a fraction in [0, 1], got {min_overlap}")
    try:
        anchor_q, anchor_log_rate = _curve("anchor", anchor)
        test_q, test_log_rate = _curve("test", test)
        low, high = _overlap(anchor_q, test_q, min_overlap)
    except _NotComparable as why:
        return BdRate(None, str(why))
    anchor_area = PchipInterpolator(anchor_q, anchor_log_rate).integrate(low, high)
    test_area = PchipInterpolator(test_q, test_log_rate).integrate(low, high)
    mean_log_ratio = (test_area - anchor_area) / (high - low)
    return BdRate(float((10.0**mean_log_ratio - 1.0) * 100.0), None, _few_points_caveat(len(anchor), len(test)))


def _few_points_caveat(anchor_points: int, test_points: int) -> str | None:
    if min(anchor_points, test_points) >= CTC_POINTS:
        return None
    return (
        f"from {test_points} test and {anchor_points} anchor points; the common test conditions use "
        f"{CTC_POINTS} or more on each curve"
    )


def _curve(name: str, points: Sequence[Point]) -> tuple[np.ndarray, np.ndarray]:
    """(quality, log10 rate) sorted by rate, after checking the points form a usable RD curve."""
    if len(points) < MIN_POINTS:
        raise _NotComparable(f"{name} has {len(points)} point(s); BD-rate needs at least {MIN_POINTS}")
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name}: points must be (kbps, quality) pairs, got an array of shape {array.shape}")
    bad = [tuple(row) for row in array if not np.all(np.isfinite(row))]
    if bad:
        raise _NotComparable(f"{name} has non-finite numbers in {_fmt(bad)}")
    bad = [tuple(row) for row in array if row[0] <= 0]
    if bad:
        raise _NotComparable(f"{name} has rates that are not positive in {_fmt(bad)}")
    array = array[np.argsort(array[:, 0], kind="stable")]
    rate, quality = array[:, 0], array[:, 1]
    for i in range(len(array) - 1):
        pair = _fmt([tuple(array[i]), tuple(array[i + 1])])
        if rate[i + 1] == rate[i]:
            raise _NotComparable(f"{name} has two points at the same rate: {pair}")
        if quality[i + 1] <= quality[i]:
            raise _NotComparable(f"{name} quality does not rise with rate between {pair}")
    return quality, np.log10(rate)


def _overlap(anchor_q: np.ndarray, test_q: np.ndarray, min_overlap: float) -> tuple[float, float]:
    """The quality interval both curves cover, if it is at least `min_overlap` of the smaller range."""
    low, high = max(anchor_q[0], test_q[0]), min(anchor_q[-1], test_q[-1])
    ranges = f"anchor {anchor_q[0]:g}..{anchor_q[-1]:g}, test {test_q[0]:g}..{test_q[-1]:g}"
    if high <= low:
        raise _NotComparable(f"quality ranges do not overlap ({ranges})")
    smaller = min(anchor_q[-1] - anchor_q[0], test_q[-1] - test_q[0])
    share = (high - low) / smaller
    if share < min_overlap:
        raise _NotComparable(
            f"quality ranges overlap by {high - low:g} only, {share:.0%} of the smaller range "
            f"(at least {min_overlap:.0%} needed; {ranges})"
        )
    return float(low), float(high)


def _fmt(points: list[tuple]) -> str:
    return ", ".join(f"({float(r):g} kbps, {float(q):g})" for r, q in points)
