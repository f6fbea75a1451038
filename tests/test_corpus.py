"""The built-in corpus: deterministic, CIF 8-bit 4:2:0, four clips of different character that move like video."""

from __future__ import annotations

import numpy as np
import pytest

from aiv.errors import ClipError
from aiv.video.clip import Clip
from aiv.video.corpus import CORPUS_NAMES, builtin_clip, builtin_corpus, rgb_to_yuv420

FRAMES = 16


@pytest.fixture(scope="module")
def corpus() -> dict[str, Clip]:
    return {clip.name: clip for clip in builtin_corpus(FRAMES)}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255 ** 2 / np.mean((a.astype(np.float64) - b) ** 2)))


def consecutive_psnr(clip: Clip) -> np.ndarray:
    return np.array([psnr(clip.y[t], clip.y[t + 1]) for t in range(clip.frames - 1)])


def changed_fraction(clip: Clip) -> float:
    """Share of luma samples that change by more than 8 levels from one frame to the next."""
    return float((np.abs(np.diff(clip.y.astype(np.int16), axis=0)) > 8).mean())


def test_shape_dtype_rate_and_source(corpus: dict[str, Clip]) -> None:
    assert tuple(corpus) == CORPUS_NAMES
    for name, clip in corpus.items():
        assert (clip.frames, clip.height, clip.width, clip.fps) == (FRAMES, 288, 352, 30.0)
        assert clip.y.dtype == clip.u.dtype == clip.v.dtype == np.uint8 and clip.u.shape == (FRAMES, 144, 176)
        assert clip.source == f"builtin:{name}" and clip.notes == ()
        assert 16 <= clip.y.min() and clip.y.max() <= 235  # limited range, from clipped RGB


def test_deterministic(corpus: dict[str, Clip]) -> None:
    for name, clip in corpus.items():
        assert builtin_clip(name, FRAMES).sha256 == clip.sha256


def test_a_shorter_clip_is_a_prefix_of_a_longer_one(corpus: dict[str, Clip]) -> None:
    for name in ("pan_zoom", "moving_object", "noisy_static"):  # light_cut puts its cut at the middle frame
        short = builtin_clip(name, 5)
        assert all(np.array_equal(a, b[:5]) for a, b in zip((short.y, short.u, short.v), (corpus[name].y,
                                                                                       corpus[name].u,
                                                                                       corpus[name].v)))


def test_clips_differ_from_each_other(corpus: dict[str, Clip]) -> None:
    clips = list(corpus.values())
    for i, a in enumerate(clips):
        for b in clips[i + 1:]:
            assert psnr(a.y[0], b.y[0]) < 18, (a.name, b.name)
            assert abs(float(a.u.mean()) - float(b.u.mean())) + abs(float(a.v.mean()) - float(b.v.mean())) > 3


def test_every_frame_differs_from_the_last(corpus: dict[str, Clip]) -> None:
    for clip in corpus.values():
        assert all(not np.array_equal(clip.y[t], clip.y[t + 1]) for t in range(FRAMES - 1)), clip.name


def test_pan_zoom_is_global_sub_pixel_motion(corpus: dict[str, Clip]) -> None:
    scores = consecutive_psnr(corpus["pan_zoom"])
    assert 20 < scores.min() and scores.max() < 35 and 21 < scores.mean() < 32
    assert changed_fraction(corpus["pan_zoom"]) > 0.15  # the whole picture moves


def test_moving_object_is_local_motion(corpus: dict[str, Clip]) -> None:
    scores = consecutive_psnr(corpus["moving_object"])
    assert 22 < scores.min() and scores.max() < 36
    assert 0.01 < changed_fraction(corpus["moving_object"]) < 0.12  # only around the cup


def test_light_cut_dims_then_cuts(corpus: dict[str, Clip]) -> None:
    clip = corpus["light_cut"]
    scores = consecutive_psnr(clip)
    cut = FRAMES // 2
    assert int(np.argmin(scores)) == cut - 1 and scores[cut - 1] < 20
    assert np.delete(scores, cut - 1).min() > 25  # no other jump
    assert clip.y[cut - 1].mean() < 0.7 * clip.y[0].mean()  # the light has dimmed before the cut


def test_noisy_static_is_noise_over_a_still_scene(corpus: dict[str, Clip]) -> None:
    clip = corpus["noisy_static"]
    scores = consecutive_psnr(clip)
    assert 36 < scores.min() and scores.max() < 46
    step = np.diff(clip.y.astype(np.float64), axis=0)
    assert 1.0 < step.std() < 4.0 and abs(step.mean()) < 0.2  # zero-mean frame-to-frame noise, a few levels


def test_rgb_to_yuv420_is_bt601_limited_range_with_2x2_chroma() -> None:
    rgb = np.zeros((1, 2, 4, 3))
    rgb[0, :, :2] = (1.0, 1.0, 1.0)  # a white 2x2 block, then a black/red checker
    rgb[0, 0, 2] = rgb[0, 1, 3] = (1.0, 0.0, 0.0)
    y, u, v = rgb_to_yuv420(rgb)
    assert y.tolist() == [[[235, 235, 81, 16], [235, 235, 16, 81]]]
    assert u.tolist() == [[[128, 109]]] and v.tolist() == [[[128, 184]]]  # red Cb 90, Cr 240 averaged with black


def test_unknown_name_lists_the_built_in_clips() -> None:
    names = "pan_zoom, moving_object, light_cut, noisy_static"
    with pytest.raises(ClipError, match=f"unknown built-in clip 'foreman'; the built-in clips are {names}"):
        builtin_clip("foreman")
    with pytest.raises(ValueError, match="frames must be positive"):
        builtin_clip("pan_zoom", 0)


def test_crop_keeps_the_top_left_window_and_says_so():
    clip = builtin_clip("pan_zoom", frames=2)
    small = clip.crop(64, 48, name="small")
    assert small.name == "small" and small.y.shape == (2, 48, 64) and small.u.shape == (2, 24, 32)
    assert (small.y == clip.y[:, :48, :64]).all() and (small.v == clip.v[:, :24, :32]).all()
    assert small.notes[-1] == "top-left 64x48 of 352x288"
    with pytest.raises(ValueError, match="cannot crop"):
        clip.crop(63, 48)
