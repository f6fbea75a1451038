"""`aiv` exit statuses and output: 0 measured, 3 codec failed, 2 bad usage or input, --help everywhere."""

from __future__ import annotations

import json

import pytest

import aiv
from aiv.cli import build_parser, main
from aiv.video.y4m import write_y4m

BROKEN = """
def encode(y, u, v, fps, quality):
    raise RuntimeError("encoder exploded")
def decode(bitstream):
    raise RuntimeError("unreachable")
"""

FLOAT_PLANES = """
import numpy as np, struct
def encode(y, u, v, fps, quality):
    return struct.pack("<3I", *y.shape)
def decode(bitstream):
    t, h, w = struct.unpack("<3I", bitstream)
    return (np.zeros((t, h, w), np.float32), np.zeros((t, h // 2, w // 2), np.uint8),
            np.zeros((t, h // 2, w // 2), np.uint8))
"""


@pytest.fixture
def small_y4m(small_clip, tmp_path):
    path = tmp_path / "small.y4m"
    write_y4m(path, small_clip)
    return path


def run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_measured_codec_exits_0_and_writes_result_json(tiny_codec_source, small_y4m, tmp_path, capsys):
    codec = tmp_path / "tiny.py"
    codec.write_text(tiny_codec_source)
    code, out, _ = run(
        [
            "evaluate",
            codec,
            "--clips",
            small_y4m,
            "--no-vmaf",
            "--qualities",
            "0.3,0.7",
            "--out",
            tmp_path / "o",
            "--json",
            "--quiet",
            "--no-cache",
        ],
        capsys,
    )
    assert code == 0
    printed = json.loads(out)
    assert printed == json.loads((tmp_path / "o" / "result.json").read_text())
    assert printed["status"] == "ok" and printed["clips"][0]["name"] == "small"


def test_a_failing_codec_exits_3_with_the_reason(small_y4m, tmp_path, capsys):
    codec = tmp_path / "broken.py"
    codec.write_text(BROKEN)
    code, out, _ = run(
        ["evaluate", codec, "--clips", small_y4m, "--no-vmaf", "--out", tmp_path / "o", "--quiet"], capsys
    )
    assert code == 3
    assert "FAILED at encode" in out and "encoder exploded" in out
    assert 'File "broken.py", line 3, in encode' in out  # the researcher's file, not the sandbox's copy
    result = json.loads((tmp_path / "o" / "result.json").read_text())
    assert result["status"] == "failed" and "encoder exploded" in result["failure"]["reason"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "no_such_codec"], "unknown built-in codec"),
        (["evaluate", "missing.py"], "does not exist"),
        (["evaluate", "intra", "--clips", "/nonexistent/clip.y4m"], "/nonexistent/clip.y4m"),
        (["evaluate", "intra", "--frames", "0"], "--frames must be at least 1"),
        (["evaluate", "intra", "--qualities", "0.5,0.2"], "increasing"),
        (["evaluate", "intra", "--qualities", "2"], "qualities must be in [0, 1], got 2\n"),
    ],
)
def test_bad_usage_exits_2_with_a_message_on_stderr(argv, message, capsys, tmp_path):
    code, out, err = run(argv + ["--out", str(tmp_path / "o")], capsys)
    assert code == 2 and message in err and out == ""


def test_corrupt_clip_exits_2(tmp_path, capsys):
    clip = tmp_path / "bad.mp4"
    clip.write_bytes(b"\x00garbage" * 100)
    code, _, err = run(["evaluate", "intra", "--clips", clip, "--out", tmp_path / "o"], capsys)
    assert code == 2 and "bad.mp4: cannot open as video: Invalid data found when processing input\n" in err
    assert "Errno" not in err


def test_a_wrong_dtype_is_a_check_failure_like_a_wrong_shape(small_y4m, tmp_path, capsys):
    codec = tmp_path / "floats.py"
    codec.write_text(FLOAT_PLANES)
    code, _, _ = run(["evaluate", codec, "--clips", small_y4m, "--no-vmaf", "--out", tmp_path / "o", "--quiet"], capsys)
    failure = json.loads((tmp_path / "o" / "result.json").read_text())["failure"]
    assert code == 3 and failure["stage"] == "check"
    assert failure["reason"] == "decode returned plane y as float32; expected uint8"


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"aiv {aiv.__version__}"


def test_every_command_has_help(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"evaluate", "run", "list", "show", "leaderboard", "export"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: aiv " + name in capsys.readouterr().out


def test_run_with_claude_and_no_key_fails_before_touching_the_store(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    code, _, err = run(["run", "--proposer", "claude", "--iterations", "1", "--store", tmp_path / "lab"], capsys)
    assert code == 1 and "ANTHROPIC_API_KEY" in err
    assert not (tmp_path / "lab").exists()


def test_claude_limits_from_the_command_line_reach_the_proposer(monkeypatch):
    from aiv.local import proposer_factory

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    proposer = proposer_factory(claude_limits={"max_tokens": 1234, "timeout_s": 42.0, "max_retries": 1})("claude")
    assert (proposer.max_tokens, proposer.timeout_s, proposer.max_retries) == (1234, 42.0, 1)


def test_evaluate_applies_the_campaign_policy_unless_trusted(tiny_codec_source, small_y4m, tmp_path, capsys):
    codec = tmp_path / "uses_os.py"
    codec.write_text("import os\n" + tiny_codec_source)
    code, _, err = run(
        [
            "evaluate",
            codec,
            "--clips",
            small_y4m,
            "--no-vmaf",
            "--qualities",
            "0.3,0.7",
            "--out",
            tmp_path / "refused",
            "--quiet",
        ],
        capsys,
    )
    assert code == 3 and "import of 'os' is not allowed" in err and "--trust" in err
    refused = json.loads((tmp_path / "refused" / "result.json").read_text())
    assert refused["failure"]["stage"] == "policy" and refused["clips"][0]["points"] == []
    assert refused["policy"] == {"checked": True, "skipped": None}
    code, _, _ = run(
        [
            "evaluate",
            codec,
            "--clips",
            small_y4m,
            "--no-vmaf",
            "--qualities",
            "0.3,0.7",
            "--trust",
            "--out",
            tmp_path / "trusted",
            "--quiet",
        ],
        capsys,
    )
    trusted = json.loads((tmp_path / "trusted" / "result.json").read_text())
    assert code == 0 and trusted["status"] == "ok" and trusted["policy"]["checked"] is False
    assert "--trust" in trusted["policy"]["skipped"]


def test_a_clip_smaller_than_the_ssim_window_exits_2_before_any_codec_runs(small_clip, tmp_path, capsys):
    path = tmp_path / "thin.y4m"
    write_y4m(path, small_clip.crop(64, 8, name="thin"))
    code, _, err = run(["evaluate", "intra", "--clips", path, "--no-vmaf", "--out", tmp_path / "o"], capsys)
    assert code == 2 and "64x8" in err and "11x11" in err and "Traceback" not in err
    assert not (tmp_path / "o" / "result.json").exists()


def test_a_metric_failure_after_the_codec_ran_is_the_harness_stage(small_y4m, tmp_path, capsys, monkeypatch):
    from aiv import evaluate as evaluator
    from aiv.errors import MetricError

    def vmaf_down(*args, **kwargs):
        raise MetricError("VMAF: ffmpeg crashed")

    monkeypatch.setattr(evaluator, "measure_quality", vmaf_down)
    code, _, err = run(
        [
            "evaluate",
            "intra",
            "--clips",
            small_y4m,
            "--qualities",
            "0.5",
            "--no-cache",
            "--out",
            tmp_path / "o",
            "--quiet",
        ],
        capsys,
    )
    result = json.loads((tmp_path / "o" / "result.json").read_text())
    assert (
        code == 1 and result["failure"]["stage"] == "harness" and "VMAF: ffmpeg crashed" in result["failure"]["reason"]
    )
    assert "measurement failed" in err
