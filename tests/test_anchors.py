"""Anchor options: CRF points and preset chosen per evaluation and per campaign, measured, cached apart."""

from __future__ import annotations

import json

import pytest

from aiv.cli import main
from aiv.codec.contract import CodecSource
from aiv.errors import UsageError
from aiv.evaluate import EvalSettings, evaluate
from aiv.local import open_local_lab
from aiv.metrics.anchors import anchor_settings
from aiv.settings import CampaignSettings
from aiv.video.y4m import write_y4m


def test_anchor_settings_carry_the_chosen_crfs_and_preset_into_the_cache_key():
    default, chosen = anchor_settings("x264"), anchor_settings("x265", (18, 23, 28, 33), "slow")
    assert (default.crfs, default.preset) == ((22, 27, 32, 37), "medium")
    assert (chosen.crfs, chosen.preset, chosen.codec) == ((18, 23, 28, 33), "slow", "libx265")
    assert chosen.options(18) == {"preset": "slow", "tune": "psnr", "crf": "18", "x265-params": "log-level=error"}
    assert "slow" in chosen.key() and "crf18-23-28-33" in chosen.key()
    assert anchor_settings("x265").key() != chosen.key()


@pytest.mark.parametrize(
    "crfs, preset, message",
    [
        ((22,), "medium", "at least two points"),
        ((30, 20), "medium", "distinct and increasing"),
        ((22, 22, 30), "medium", "distinct and increasing"),
        ((22, 60), "medium", "whole numbers in 0..51"),
        ((22, 27), "speedy", "unknown anchor preset 'speedy'"),
    ],
)
def test_bad_anchor_options_are_usage_errors_in_both_settings(crfs, preset, message):
    with pytest.raises(UsageError, match=message):
        EvalSettings(anchor_crfs=crfs, anchor_preset=preset)
    with pytest.raises(UsageError, match=message):
        CampaignSettings(anchor_crfs=crfs, anchor_preset=preset)


def test_the_evaluation_measures_the_chosen_anchor_points_and_records_them(
    small_clip, tiny_codec_source, tmp_path, monkeypatch
):
    import aiv.metrics.anchors as anchors

    settings = EvalSettings(
        qualities=(0.2, 0.8),
        vmaf=False,
        anchors=("x264",),
        anchor_crfs=(26, 42),
        anchor_preset="veryfast",
        cache_dir=tmp_path,
    )
    codec = CodecSource("tiny", tiny_codec_source, "test")
    record = evaluate(codec, [small_clip], settings, show_progress=False)
    assert [p["crf"] for p in record["clips"][0]["anchors"]["x264"]] == [26, 42]
    assert record["settings"]["anchor_crfs"] == (26, 42) and record["settings"]["anchor_preset"] == "veryfast"
    assert record["settings"]["anchor_settings"]["x264"]["preset"] == "veryfast"
    # two anchor points: the BD-rate is given, with the caveat, in the clip and in the headline
    bd = record["clips"][0]["bd_rate"]["x264"]["psnr_y"]
    assert bd["value"] is not None and bd["caveat"].startswith("from 2 test and 2 anchor points")
    assert record["summary"]["caveats"]["bd_rate_x264_psnr_y"].startswith("small: from 2 test and 2 anchor points")
    # other settings are measured apart, never served from the cache of these
    calls = []
    real = anchors.measure_anchor
    monkeypatch.setattr(anchors, "measure_anchor", lambda *a, **k: calls.append(a[1].preset) or real(*a, **k))
    evaluate(
        codec,
        [small_clip],
        EvalSettings(qualities=(0.2, 0.8), vmaf=False, anchors=("x264",), anchor_crfs=(26, 42), cache_dir=tmp_path),
        show_progress=False,
    )
    assert calls == ["medium"]
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_campaign_anchor_settings_reach_the_evaluator_and_the_record(tmp_path):
    settings = CampaignSettings(anchor_crfs=(18, 23, 28, 33), anchor_preset="slow")
    lab = open_local_lab(tmp_path / "lab", settings)
    evaluation = lab.eval_settings()
    assert (evaluation.anchor_crfs, evaluation.anchor_preset) == ((18, 23, 28, 33), "slow")
    assert settings.as_record()["anchor_crfs"] == (18, 23, 28, 33)
    assert settings.as_record()["anchor_preset"] == "slow"


def test_evaluate_takes_anchor_options_from_the_command_line(small_clip, tiny_codec_source, tmp_path, capsys):
    clip = tmp_path / "small.y4m"
    write_y4m(clip, small_clip)
    codec = tmp_path / "tiny.py"
    codec.write_text(tiny_codec_source)
    code = main(
        [
            "evaluate",
            str(codec),
            "--clips",
            str(clip),
            "--no-vmaf",
            "--qualities",
            "0.3,0.7",
            "--quiet",
            "--anchor-crfs",
            "36,41,46,51",
            "--anchor-preset",
            "slow",
            "--out",
            str(tmp_path / "o"),
            "--no-cache",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads((tmp_path / "o" / "result.json").read_text())
    assert [p["crf"] for p in result["clips"][0]["anchors"]["x265"]] == [36, 41, 46, 51]
    assert result["settings"]["anchor_settings"]["x265"]["preset"] == "slow"
    assert "* from 2 test and 4 anchor points" in out  # the 2-point BD-rate is flagged in the table


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--anchor-crfs", "18,x"], "whole numbers separated by commas"),
        (["--anchor-crfs", "30,20"], "distinct and increasing"),
        (["--anchor-preset", "speedy"], "invalid choice: 'speedy'"),
    ],
)
def test_bad_anchor_options_exit_2(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        code = main(["evaluate", "intra", "--out", str(tmp_path / "o"), *argv])
        raise SystemExit(code)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
