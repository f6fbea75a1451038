"""BD-rate: analytic cases, an independent transcription of the CTC spreadsheet's method, and
every way two curves can fail to be comparable."""

from __future__ import annotations

import math
import random
import re

import numpy as np
import pytest

from aiv.metrics.bdrate import BdRate, bd_rate

# libx265 points from the FAU-LMS/bjontegaard README (kbps, PSNR dB): anchor and test.
FAU_ANCHOR = [(9487.76, 40.037), (4593.60, 38.615), (2486.44, 36.845), (1358.24, 34.851)]
FAU_TEST = [(9787.80, 40.121), (4469.00, 38.651), (2451.52, 36.970), (1356.24, 34.987)]
# Its "high bitrates" case.
FAU_HIGH_ANCHOR = [(82472.76, 43.825), (26875.24, 41.404), (9487.76, 40.037), (4593.6, 38.615)]
FAU_HIGH_TEST = [(99896.96, 44.731), (33952.04, 41.875), (9787.8, 40.121), (4469.0, 38.651)]
# x264 on foreman (shared/clips/README.md).
X264 = [(671, 39.33), (295, 36.89), (150, 34.30), (87, 31.61)]


def spreadsheet_bd_rate(anchor, test) -> float:
    """BD-rate the way the JCT-VC/JVET CTC spreadsheet computes it, written out by hand.

    Per curve: sort by quality, Fritsch-Carlson PCHIP slopes (weighted harmonic mean inside,
    the three-point shape-preserving formula at the ends), then the exact integral of each
    Hermite cubic over its part of the common interval.
    """
    low = max(min(q for _, q in anchor), min(q for _, q in test))
    high = min(max(q for _, q in anchor), max(q for _, q in test))

    def end_slope(h0, h1, d0, d1):
        slope = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
        if slope * d0 <= 0:
            return 0.0
        if d0 * d1 < 0 and abs(slope) > abs(3 * d0):
            return 3 * d0
        return slope

    def area(points):
        q = [p[1] for p in sorted(points, key=lambda p: p[1])]
        r = [math.log10(p[0]) for p in sorted(points, key=lambda p: p[1])]
        n = len(q)
        h = [q[i + 1] - q[i] for i in range(n - 1)]
        d = [(r[i + 1] - r[i]) / h[i] for i in range(n - 1)]
        m = [end_slope(h[0], h[1], d[0], d[1])]
        m += [
            3 * (h[i - 1] + h[i]) / ((2 * h[i] + h[i - 1]) / d[i - 1] + (h[i] + 2 * h[i - 1]) / d[i])
            for i in range(1, n - 1)
        ]
        m += [end_slope(h[-1], h[-2], d[-1], d[-2])]
        total = 0.0
        for i in range(n - 1):
            c = (3 * d[i] - 2 * m[i] - m[i + 1]) / h[i]
            b = (m[i] - 2 * d[i] + m[i + 1]) / h[i] ** 2
            s0, s1 = (min(max(s, low), high) - q[i] for s in (q[i], q[i + 1]))
            total += sum(coef * (s1**k - s0**k) / k for k, coef in enumerate((r[i], m[i], c, b), start=1))
        return total

    return (10 ** ((area(test) - area(anchor)) / (high - low)) - 1) * 100


def test_identical_curves_give_zero():
    assert bd_rate(X264, X264).value == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("factor,expected", [(0.5, -50.0), (2.0, 100.0), (0.9, -10.0)])
def test_a_constant_rate_ratio_is_recovered_exactly(factor, expected):
    test = [(kbps * factor, q) for kbps, q in X264]
    result = bd_rate(X264, test)
    assert result.reason is None
    assert result.value == pytest.approx(expected, abs=1e-6)


def test_a_quality_shift_on_an_exponential_curve_matches_the_closed_form():
    """log10(rate) = a + b*q on both curves; the test reaches every rate at 0.8 dB more quality.

    Its rate at equal quality is then 10^(-0.8 b) times the anchor's, over a partial overlap."""
    a, b, shift = -1.0, 0.1, 0.8
    qualities = [30.0, 32.0, 34.5, 37.0, 40.0]
    anchor = [(10 ** (a + b * q), q) for q in qualities]
    test = [(10 ** (a + b * q), q + shift) for q in qualities]
    assert bd_rate(anchor, test).value == pytest.approx((10 ** (-b * shift) - 1) * 100, abs=1e-9)


@pytest.mark.parametrize(
    "anchor,test",
    [
        (FAU_ANCHOR, FAU_TEST),
        (FAU_HIGH_ANCHOR, FAU_HIGH_TEST),
        (X264, [(600, 38.9), (280, 36.5), (160, 34.6), (90, 32.0), (60, 30.2)]),
    ],
)
def test_matches_the_spreadsheet_method(anchor, test):
    assert bd_rate(anchor, test).value == pytest.approx(spreadsheet_bd_rate(anchor, test), abs=1e-9)


def test_the_fau_example_saves_bits():
    """The test encoder's curve lies above the anchor's almost everywhere: a few percent saved."""
    value = bd_rate(FAU_ANCHOR, FAU_TEST).value
    assert -10 < value < 0


def test_the_order_of_points_does_not_matter():
    expected = bd_rate(FAU_ANCHOR, FAU_TEST).value
    generator = random.Random(3)
    for _ in range(5):
        anchor, test = FAU_ANCHOR[:], FAU_TEST[:]
        generator.shuffle(anchor)
        generator.shuffle(test)
        assert bd_rate(anchor, test).value == expected


def test_two_points_per_curve_are_enough_and_give_a_straight_line():
    anchor = [(100.0, 30.0), (400.0, 36.0)]
    test = [(50.0, 30.0), (200.0, 36.0), (800.0, 42.0)]
    assert bd_rate(anchor, test).value == pytest.approx(-50.0, abs=1e-9)


def test_curves_with_different_numbers_of_points():
    test = [(kbps * 0.5, q) for kbps, q in X264] + [(1200 * 0.5, 41.0)]
    assert bd_rate(X264 + [(1200, 41.0)], test).value == pytest.approx(-50.0, abs=1e-6)
    # Against the 4-point anchor the test's extra point changes its end slope a little: no longer exact.
    assert bd_rate(X264, test).value == pytest.approx(spreadsheet_bd_rate(X264, test), abs=1e-9)
    assert bd_rate(X264, test).value == pytest.approx(-50.0, abs=0.5)


@pytest.mark.parametrize(
    "anchor,test,reason",
    [
        ([(100, 30.0)], X264, "anchor has 1 point\\(s\\); BD-rate needs at least 2"),
        (X264, [], "test has 0 point\\(s\\)"),
        (X264, [(100, 30.0), (200, float("nan"))], "test has non-finite numbers in \\(200 kbps, nan\\)"),
        ([(float("inf"), 40.0), (200, 35.0)], X264, "anchor has non-finite numbers in \\(inf kbps, 40\\)"),
        (X264, [(0, 30.0), (200, 35.0)], "test has rates that are not positive in \\(0 kbps, 30\\)"),
        (X264, [(-5, 30.0), (200, 35.0)], "not positive in \\(-5 kbps, 30\\)"),
        (X264, [(100, 30.0), (100, 31.0), (200, 35.0)], "test has two points at the same rate"),
        (
            [(671, 39.33), (295, 36.89), (150, 37.30), (87, 31.61)],
            X264,
            "anchor quality does not rise with rate between \\(150 kbps, 37.3\\), \\(295 kbps, 36.89\\)",
        ),
        (
            X264,
            [(100, 35.0), (200, 35.0)],
            "test quality does not rise with rate between \\(100 kbps, 35\\), \\(200 kbps, 35\\)",
        ),
        (X264, [(1000, 42.0), (2000, 45.0)], "quality ranges do not overlap \\(anchor 31.61..39.33, test 42..45\\)"),
        (X264, [(1000, 39.0), (2000, 45.0)], "overlap by 0.33 only, 5% of the smaller range \\(at least 25% needed"),
    ],
)
def test_not_comparable_curves_give_no_number_and_say_why(anchor, test, reason):
    result = bd_rate(anchor, test)
    assert result.value is None
    assert result.reason is not None
    assert re.search(reason, result.reason), result.reason


def test_the_overlap_threshold_is_a_parameter():
    test = [(1000, 39.0), (2000, 45.0)]
    assert bd_rate(X264, test).value is None
    assert bd_rate(X264, test, min_overlap=0.05).value is not None
    with pytest.raises(ValueError, match="min_overlap"):
        bd_rate(X264, test, min_overlap=1.5)


def test_malformed_points_are_a_value_error():
    with pytest.raises(ValueError, match="\\(kbps, quality\\) pairs"):
        bd_rate(X264, [(100, 30.0, 1.0), (200, 35.0, 1.0)])


def test_result_object():
    assert bd_rate(X264, X264).as_dict() == {"value": pytest.approx(0.0, abs=1e-12), "reason": None, "caveat": None}
    assert bd_rate(X264, []).as_dict()["value"] is None
    for value, reason in ((None, None), (1.0, "both")):
        with pytest.raises(ValueError):
            BdRate(value, reason)
    with pytest.raises(AttributeError):
        bd_rate(X264, X264).value = 3.0


def test_spreadsheet_oracle_agrees_on_random_monotone_curves():
    rng = np.random.default_rng(11)
    for _ in range(20):

        def curve(count):
            rates = np.sort(rng.uniform(50, 5000, count))
            qualities = np.cumsum(rng.uniform(0.3, 3.0, count)) + 28
            return list(zip(rates.tolist(), qualities.tolist()))

        anchor, test = curve(rng.integers(3, 7)), curve(rng.integers(3, 7))
        result = bd_rate(anchor, test, min_overlap=0.0)
        if result.value is None:
            assert "do not overlap" in result.reason
            continue
        assert result.value == pytest.approx(spreadsheet_bd_rate(anchor, test), rel=1e-9, abs=1e-9)


def test_fewer_than_four_points_carry_a_caveat():
    two = [X264[0], X264[-1]]
    result = bd_rate(X264, two)
    assert result.value is not None
    assert result.caveat == "from 2 test and 4 anchor points; the common test conditions use 4 or more on each curve"
    assert bd_rate(two, X264).caveat.startswith("from 4 test and 2 anchor points")
    assert bd_rate(X264, X264).caveat is None
    assert bd_rate(X264, []).caveat is None  # not comparable: a reason, no caveat
    with pytest.raises(ValueError, match="caveat"):
        BdRate(None, "no overlap", "few points")
