"""The cascade's early stop against the parent: only on the same frames and qualities, only above the threshold."""

import pytest
from test_pipeline import ScriptedProposer, anchor_cache, make_lab, seeded  # noqa: F401 (fixtures)

from aiv.runner import run_candidate
from aiv.search.early_stop import early_stop


def cascade(scale: float, sha: str = "frames-1", qualities=(0.3, 0.7)) -> dict:
    """A cascade record of one clip whose rates are `scale` times the reference's at equal PSNR-Y."""
    points = [{"quality": q, "kbps": 100.0 * (1 + 4 * q) * scale, "psnr_y": 30.0 + 10 * q} for q in qualities]
    return {"status": "ok", "clips": [{"name": "moving_object", "sha256": sha, "frames": 8, "points": points}]}


def test_a_clearly_worse_candidate_stops_with_its_bd_rate_against_the_parent():
    stop = early_stop(cascade(1.5), cascade(1.0), "exp-parent", threshold=10.0)
    assert stop is not None and stop.bd_rate == pytest.approx(50.0)
    assert stop.reason == (
        "stopped early: +50.00% BD-rate (PSNR-Y) against the parent exp-parent on the first 8 frames of moving_object"
    )


@pytest.mark.parametrize("scale", [0.5, 1.0, 1.09])
def test_a_better_equal_or_slightly_worse_candidate_goes_on(scale):
    assert early_stop(cascade(scale), cascade(1.0), "exp-parent", threshold=10.0) is None


@pytest.mark.parametrize(
    "parent",
    [
        None,
        {"status": "failed", "clips": []},
        cascade(1.0, sha="other-frames"),
        cascade(1.0, qualities=(0.2, 0.8)),
    ],
)
def test_records_that_cannot_be_compared_stop_nothing(parent):
    assert early_stop(cascade(3.0), parent, "exp-parent", threshold=10.0) is None


def test_a_clearly_worse_candidate_is_stopped_after_the_cascade_stage(seeded, tiny_codec_source):
    # the same frames at twice the rate: the padding is read past, never decoded
    wasteful = tiny_codec_source.replace(
        "+ bytes([step]) + payload\n", "+ bytes([step]) + payload + bytes(len(payload))\n"
    ).replace("zlib.decompress(bitstream", "zlib.decompressobj().decompress(bitstream")
    assert wasteful.count("decompressobj") == 1 and "bytes(len(payload))" in wasteful
    lab = seeded(ScriptedProposer([wasteful]))
    outcome = run_candidate(lab, "run-1", "scripted", 1)
    experiment = lab.experiments.get_experiment(outcome.experiment_id)
    assert experiment.status == "rejected" and [a["stage"] for a in experiment.attempts] == ["cascade"] * 3
    first = experiment.attempts[0]
    parent = experiment.parents[0]
    assert first["reason"].startswith("stopped early: +") and f"against the parent {parent}" in first["reason"]
    bd_rate = float(first["reason"].split()[2].rstrip("%"))
    assert 60 < bd_rate < 110  # twice the bits for the same quality, less the fixed header
    points = len(lab.settings.qualities) * (len(lab.settings.train_clips) + len(lab.settings.validation_clips))
    assert first["saved_points"] == points
