"""VMAF through ffmpeg's libvmaf: real scores on tiny clips, and every way it can fail."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest

from aiv.errors import MetricError
from aiv.metrics import vmaf
from aiv.metrics.vmaf import VMAF_MIN_SIDE, vmaf_available, vmaf_frames, vmaf_mean

FPS = 30000 / 1001
needs_vmaf = pytest.mark.skipif(vmaf_available() is not None, reason=f"VMAF unavailable: {vmaf_available()}")


def textured(frames: int = 4, height: int = 64, width: int = 96, seed: int = 0):
    """Camera-like (y, u, v): smooth shapes, an edge, fine texture, slow drift."""
    rng = np.random.default_rng(seed)
    field = cv2.GaussianBlur(rng.normal(128, 60, (height, width + frames)), (0, 0), 2.5)
    field += rng.normal(0, 8, field.shape)
    field[:, width // 2 :] += 30
    y = np.stack([np.clip(field[:, t : t + width], 0, 255) for t in range(frames)]).astype(np.uint8)
    u = np.full((frames, height // 2, width // 2), 110, np.uint8)
    v = np.full((frames, height // 2, width // 2), 140, np.uint8)
    return y, u, v


def with_luma(planes, y):
    return (y, planes[1], planes[2])


def add_noise(planes, sigma: float):
    rng = np.random.default_rng(1)
    return with_luma(planes, np.clip(planes[0] + rng.normal(0, sigma, planes[0].shape), 0, 255).astype(np.uint8))


@needs_vmaf
def test_identical_clips_score_high():
    clip = textured()
    scores = vmaf_frames(clip, clip, FPS)
    assert scores.shape == (4,) and scores.dtype == np.float64
    assert scores.min() > 95 and scores.mean() > 97
    assert vmaf_mean(clip, clip, FPS) == pytest.approx(scores.mean())


@needs_vmaf
def test_vmaf_falls_as_noise_rises():
    clip = textured()
    means = [vmaf_mean(clip, add_noise(clip, sigma), FPS) for sigma in (0, 4, 12, 36)]
    assert all(a > b + 3 for a, b in zip(means, means[1:])), means
    assert means[-1] < 70, means


@needs_vmaf
def test_blur_scores_clearly_lower():
    clip = textured(height=96, width=160)
    blurred = with_luma(clip, np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in clip[0]]))
    assert vmaf_mean(clip, blurred, 25.0) < vmaf_mean(clip, clip, 25.0) - 20


@pytest.mark.parametrize(
    "dist,message",
    [
        (lambda c: (c[0][:3], c[1][:3], c[2][:3]), "shape"),
        (lambda c: (c[0][:, :, :-2], c[1][:, :, :-1], c[2][:, :, :-1]), "shape"),
        (lambda c: (c[0].astype(np.int16), c[1], c[2]), "uint8"),
        (lambda c: (c[0], c[1]), "expected \\(y, u, v\\)"),
        (lambda c: (c[0].tolist(), c[1], c[2]), "numpy arrays"),
    ],
)
def test_mismatched_clips_are_value_errors(dist, message):
    clip = textured()
    with pytest.raises(ValueError, match=message):
        vmaf_frames(clip, dist(clip), FPS)


@pytest.mark.parametrize("fps", [0, -25.0, float("nan"), float("inf"), "30"])
def test_frame_rate_must_be_a_positive_number(fps):
    clip = textured()
    with pytest.raises(ValueError, match="frame rate"):
        vmaf_frames(clip, clip, fps)


def test_frames_too_small_for_libvmaf_are_refused_before_ffmpeg_runs(monkeypatch):
    monkeypatch.setattr(vmaf.imageio_ffmpeg, "get_ffmpeg_exe", lambda: pytest.fail("ffmpeg should not be looked up"))
    clip = textured(height=VMAF_MIN_SIDE - 2, width=64)
    with pytest.raises(MetricError, match="too small"):
        vmaf_frames(clip, clip, FPS)


def fake_ffmpeg(tmp_path: Path, body: str, filters: str = " .. libvmaf           VV->V      VMAF") -> str:
    """An executable standing in for ffmpeg: lists `filters` for -filters, otherwise runs `body`."""
    if os.name != "posix":
        pytest.skip("fake ffmpeg scripts need a POSIX shell")
    script = tmp_path / "ffmpeg"
    script.write_text(f'#!/bin/sh\nif [ "$2" = "-filters" ]; then echo "{filters}"; exit 0; fi\n{body}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


@pytest.fixture
def use_ffmpeg(monkeypatch):
    def install(exe: str) -> None:
        monkeypatch.setattr(vmaf.imageio_ffmpeg, "get_ffmpeg_exe", lambda: exe)

    return install


def test_no_ffmpeg(monkeypatch):
    def missing():
        raise RuntimeError("No ffmpeg exe could be found")

    monkeypatch.setattr(vmaf.imageio_ffmpeg, "get_ffmpeg_exe", missing)
    assert "no ffmpeg binary" in vmaf_available()
    with pytest.raises(MetricError, match="no ffmpeg binary"):
        vmaf_frames(textured(), textured(), FPS)


def test_ffmpeg_without_libvmaf(tmp_path, use_ffmpeg):
    use_ffmpeg(fake_ffmpeg(tmp_path, "exit 0", filters=" TS psnr              VV->V      PSNR"))
    assert "no libvmaf filter" in vmaf_available()
    with pytest.raises(MetricError, match="no libvmaf filter"):
        vmaf_frames(textured(), textured(), FPS)


def test_failing_ffmpeg_reports_its_exit_status_and_stderr(tmp_path, use_ffmpeg):
    use_ffmpeg(fake_ffmpeg(tmp_path, 'echo "Error initializing filter libvmaf: model not found" >&2; exit 3'))
    assert vmaf_available() is None
    with pytest.raises(MetricError, match="exited with 3.*model not found"):
        vmaf_frames(textured(), textured(), FPS)


def test_crashing_ffmpeg_reports_the_signal(tmp_path, use_ffmpeg):
    use_ffmpeg(fake_ffmpeg(tmp_path, "kill -SEGV $$"))
    with pytest.raises(MetricError, match="killed by signal 11"):
        vmaf_frames(textured(), textured(), FPS)


def test_unparsable_log(tmp_path, use_ffmpeg):
    use_ffmpeg(fake_ffmpeg(tmp_path, "echo 'this is not json' > vmaf.json"))
    with pytest.raises(MetricError, match="could not read libvmaf's log"):
        vmaf_frames(textured(), textured(), FPS)


def test_missing_log(tmp_path, use_ffmpeg):
    use_ffmpeg(fake_ffmpeg(tmp_path, "echo 'warning: nothing written' >&2"))
    with pytest.raises(MetricError, match="could not read libvmaf's log.*nothing written"):
        vmaf_frames(textured(), textured(), FPS)


def test_log_with_the_wrong_frame_count(tmp_path, use_ffmpeg):
    log = '{"frames": [{"frameNum": 0, "metrics": {"vmaf": 90.0}}, {"frameNum": 1, "metrics": {"vmaf": 91.0}}]}'
    use_ffmpeg(fake_ffmpeg(tmp_path, f"echo '{log}' > vmaf.json"))
    with pytest.raises(MetricError, match="scored 2 frames, the clips have 4"):
        vmaf_frames(textured(), textured(), FPS)


def test_log_without_vmaf_scores(tmp_path, use_ffmpeg):
    log = '{"frames": [{"frameNum": 0, "metrics": {"psnr_y": 40.0}}]}'
    use_ffmpeg(fake_ffmpeg(tmp_path, f"echo '{log}' > vmaf.json"))
    with pytest.raises(MetricError, match="could not read libvmaf's log.*vmaf"):
        vmaf_frames(textured(1), textured(1), FPS)
