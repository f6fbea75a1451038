"""The evaluator: measured points, anchors, BD-rate, failures with stage and reason, artifacts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aiv.codec.contract import CodecSource
from aiv.evaluate import EvalSettings, evaluate, summarise, write_result
from aiv.metrics.rate import kbps
from aiv.video.y4m import read_y4m

FAST = dict(vmaf=False, qualities=(0.2, 0.5, 0.8))

WRONG_SHAPE = """
import numpy as np
def encode(y, u, v, fps, quality):
    return bytes([y.shape[0], y.shape[1], y.shape[2]])
def decode(bitstream):
    t, h, w = bitstream[0], bitstream[1], bitstream[2]
    return (np.zeros((t, h, w - 2), np.uint8), np.zeros((t, h // 2, w // 2), np.uint8),
            np.zeros((t, h // 2, w // 2), np.uint8))
"""

SHRINKING = """
import numpy as np, struct
def encode(y, u, v, fps, quality):
    return struct.pack("<3I", *y.shape) + bytes(int(100 * (1 - quality)) + 1)
def decode(bitstream):
    t, h, w = struct.unpack_from("<3I", bitstream)
    return (np.zeros((t, h, w), np.uint8), np.zeros((t, h // 2, w // 2), np.uint8),
            np.zeros((t, h // 2, w // 2), np.uint8))
"""


def codec(source: str, name: str = "c") -> CodecSource:
    return CodecSource(name, source, "test")


def test_points_are_measured_by_the_harness(small_clip, tiny_codec_source, tmp_path):
    record = evaluate(
        codec(tiny_codec_source), [small_clip], EvalSettings(**FAST, cache_dir=tmp_path), show_progress=False
    )
    assert record["status"] == "ok" and record["failure"] is None
    clip = record["clips"][0]
    assert [p["quality"] for p in clip["points"]] == [0.2, 0.5, 0.8]
    for point in clip["points"]:
        assert point["kbps"] == pytest.approx(kbps(point["bytes"], small_clip.fps, small_clip.frames))
        assert len(point["psnr_y_frames"]) == small_clip.frames
        assert point["vmaf"] is None and point["encode_s"] > 0 and point["decode_s"] > 0
    assert [p["bytes"] for p in clip["points"]] == sorted(p["bytes"] for p in clip["points"])
    assert clip["points"][-1]["psnr_y"] > clip["points"][0]["psnr_y"]
    assert [p["crf"] for p in clip["anchors"]["x264"]] == [22, 27, 32, 37]
    assert clip["bd_rate"]["x264"]["vmaf"] == {
        "value": None,
        "reason": "VMAF was not measured (--no-vmaf)",
        "caveat": None,
    }
    assert record["codec_sha256"] == codec(tiny_codec_source).sha256
    assert record["summary"]["bd_rate_x264_vmaf"] is None
    assert "bd_rate_x264_vmaf" in record["summary"]["not_comparable"]


def test_wrong_shape_is_a_check_failure_with_the_shapes(small_clip):
    record = evaluate(codec(WRONG_SHAPE), [small_clip], EvalSettings(**FAST, anchors=()), show_progress=False)
    assert record["status"] == "failed"
    failure = record["failure"]
    assert failure["stage"] == "check" and failure["clip"] == "small" and failure["quality"] == 0.2
    assert "(4, 48, 62)" in failure["reason"] and "(4, 48, 64)" in failure["reason"]
    assert record["summary"] is None


def test_bits_falling_as_quality_rises_break_the_contract(small_clip):
    record = evaluate(codec(SHRINKING), [small_clip], EvalSettings(**FAST, anchors=()), show_progress=False)
    assert record["failure"]["stage"] == "check"
    assert "not monotone" in record["failure"]["reason"]
    assert len(record["clips"][0]["points"]) == 1  # the point measured before the failure is kept


def test_artifacts_are_the_exact_bitstream_and_the_decoded_frames(small_clip, tiny_codec_source, tmp_path):
    settings = EvalSettings(qualities=(0.9,), vmaf=False, anchors=(), keep_artifacts=True)
    record = evaluate(codec(tiny_codec_source), [small_clip], settings, out_dir=tmp_path, show_progress=False)
    point = record["clips"][0]["points"][0]
    assert (tmp_path / point["bitstream"]).stat().st_size == point["bytes"]
    recon = read_y4m(tmp_path / point["recon"])
    assert recon.y.shape == small_clip.y.shape
    error = np.abs(recon.y.astype(int) - small_clip.y.astype(int)).max()
    assert 0 < error <= 2  # quality 0.9 quantises with step 4: close, not equal


def test_anchor_cache_is_reused_for_the_same_clip_and_settings(small_clip, tiny_codec_source, tmp_path, monkeypatch):
    import aiv.metrics.anchors as anchors

    settings = EvalSettings(**FAST, anchors=("x264",), cache_dir=tmp_path)
    first = evaluate(codec(tiny_codec_source), [small_clip], settings, show_progress=False)
    monkeypatch.setattr(anchors, "measure_anchor", lambda *a, **k: pytest.fail("the cache was not used"))
    second = evaluate(codec(tiny_codec_source), [small_clip], settings, show_progress=False)
    assert first["clips"][0]["anchors"] == second["clips"][0]["anchors"]
    assert len(list(tmp_path.glob("*.json"))) == 1


def test_summary_is_the_mean_or_null_with_reasons():
    ok = {"value": -10.0, "reason": None}
    clips = [
        {"name": "a", "bd_rate": {"x264": {"psnr_y": ok, "vmaf": ok}, "x265": {"psnr_y": ok, "vmaf": ok}}},
        {
            "name": "b",
            "bd_rate": {
                "x264": {"psnr_y": {"value": 20.0, "reason": None}, "vmaf": {"value": None, "reason": "no overlap"}}
            },
        },
    ]
    summary = summarise(clips)
    assert summary["bd_rate_x264_psnr_y"] == pytest.approx(5.0)
    assert summary["bd_rate_x264_vmaf"] is None and "b: no overlap" in summary["not_comparable"]["bd_rate_x264_vmaf"]
    assert summary["bd_rate_x265_psnr_y"] is None
    assert "b: no x265 anchor was measured" in summary["not_comparable"]["bd_rate_x265_psnr_y"]


def test_write_result_writes_json(tmp_path):
    path = write_result({"status": "ok"}, tmp_path / "d")
    assert json.loads(path.read_text()) == {"status": "ok"}


@pytest.mark.parametrize("qualities", [(), (0.5, 0.2), (0.2, 1.5)])
def test_bad_quality_lists_are_usage_errors(qualities):
    from aiv.errors import UsageError

    with pytest.raises(UsageError):
        EvalSettings(qualities=qualities)
