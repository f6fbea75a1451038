"""The built-in corpus: CIF 8-bit 4:2:0, four kinds of content twice (train, validation), rendered from a secret."""

from __future__ import annotations

import numpy as np
import pytest

from aiv.errors import ClipError
from aiv.video.clip import Clip
from aiv.video.corpus import (
    CORPUS_NAMES,
    TRAIN_NAMES,
    VALIDATION_NAMES,
    builtin_clip,
    builtin_corpus,
    new_secret,
    rgb_to_yuv420,
)

FRAMES = 16
SECRET, OTHER_SECRET = b"one store's secret, 32 bytes...", b"another store's secret, 32 byte"


@pytest.fixture(scope="module")
def corpus() -> dict[str, Clip]:
    return {clip.name: clip for clip in builtin_corpus(FRAMES, secret=SECRET)}


@pytest.fixture(scope="module")
def other_corpus() -> dict[str, Clip]:
    return {clip.name: clip for clip in builtin_corpus(FRAMES, secret=OTHER_SECRET)}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b) ** 2)))


def consecutive_psnr(clip: Clip) -> np.ndarray:
    return np.array([psnr(clip.y[t], clip.y[t + 1]) for t in range(clip.frames - 1)])


def changed_fraction(clip: Clip) -> float:
    """Share of luma samples that change by more than 8 levels from one frame to the next."""
    return float((np.abs(np.diff(clip.y.astype(np.int16), axis=0)) > 8).mean())


def both_splits(kind: str, *corpora: dict[str, Clip]) -> list[Clip]:
    """The train clip of `kind` and its validation counterpart, from every corpus given."""
    return [corpus[name] for corpus in corpora for name in (kind, f"val_{kind}")]


def test_names_split_train_and_validation_by_kind() -> None:
    assert TRAIN_NAMES == ("pan_zoom", "moving_object", "light_cut", "noisy_static")
    assert VALIDATION_NAMES == tuple(f"val_{name}" for name in TRAIN_NAMES)
    assert CORPUS_NAMES == TRAIN_NAMES + VALIDATION_NAMES


def test_shape_dtype_rate_and_source(corpus: dict[str, Clip]) -> None:
    assert tuple(corpus) == CORPUS_NAMES
    for name, clip in corpus.items():
        assert (clip.frames, clip.height, clip.width, clip.fps) == (FRAMES, 288, 352, 30.0)
        assert clip.y.dtype == clip.u.dtype == clip.v.dtype == np.uint8 and clip.u.shape == (FRAMES, 144, 176)
        assert clip.source == f"builtin:{name}" and clip.notes == ()
        assert 16 <= clip.y.min() and clip.y.max() <= 235  # limited range, from clipped RGB


def test_one_secret_renders_the_same_clips(corpus: dict[str, Clip]) -> None:
    for name, clip in corpus.items():
        assert builtin_clip(name, FRAMES, secret=SECRET).sha256 == clip.sha256


def test_another_secret_renders_other_clips(corpus: dict[str, Clip], other_corpus: dict[str, Clip]) -> None:
    for name, clip in corpus.items():
        assert psnr(clip.y[0], other_corpus[name].y[0]) < 30, name  # another view, not just other noise


def test_the_secret_is_required_and_long_enough() -> None:
    with pytest.raises(TypeError):
        builtin_clip("pan_zoom", 2)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="at least 16 bytes"):
        builtin_clip("pan_zoom", 2, secret=b"short")
    assert len(new_secret()) == 32 and new_secret() != new_secret()


def test_a_shorter_clip_is_a_prefix_of_a_longer_one(corpus: dict[str, Clip]) -> None:
    for name in CORPUS_NAMES:
        if name.endswith("light_cut"):  # its cut sits at the middle frame
            continue
        short = builtin_clip(name, 5, secret=SECRET)
        assert all(
            np.array_equal(a, b[:5])
            for a, b in zip((short.y, short.u, short.v), (corpus[name].y, corpus[name].u, corpus[name].v))
        ), name


def test_clips_differ_from_each_other(corpus: dict[str, Clip]) -> None:
    clips = list(corpus.values())
    for i, a in enumerate(clips):
        for b in clips[i + 1 :]:
            assert psnr(a.y[0], b.y[0]) < 22, (a.name, b.name)  # different pictures


def test_every_frame_differs_from_the_last(corpus: dict[str, Clip]) -> None:
    for clip in corpus.values():
        assert all(not np.array_equal(clip.y[t], clip.y[t + 1]) for t in range(FRAMES - 1)), clip.name


def test_pan_zoom_is_global_sub_pixel_motion(corpus: dict[str, Clip], other_corpus: dict[str, Clip]) -> None:
    for clip in both_splits("pan_zoom", corpus, other_corpus):
        scores = consecutive_psnr(clip)
        assert 18 < scores.min() and scores.max() < 40 and scores.mean() < 36, clip.name
        assert changed_fraction(clip) > 0.1, clip.name  # the whole picture moves


def test_moving_object_is_local_motion(corpus: dict[str, Clip], other_corpus: dict[str, Clip]) -> None:
    for clip in both_splits("moving_object", corpus, other_corpus):
        scores = consecutive_psnr(clip)
        assert 22 < scores.min() and scores.max() < 50, clip.name
        assert 0.005 < changed_fraction(clip) < 0.12, clip.name  # only around the object


def test_light_cut_dims_then_cuts(corpus: dict[str, Clip], other_corpus: dict[str, Clip]) -> None:
    cut = FRAMES // 2
    for clip in both_splits("light_cut", corpus, other_corpus):
        scores = consecutive_psnr(clip)
        assert int(np.argmin(scores)) == cut - 1 and scores[cut - 1] < 20, clip.name
        assert np.delete(scores, cut - 1).min() > 25, clip.name  # no other jump
        assert clip.y[cut - 1].mean() < 0.7 * clip.y[0].mean(), clip.name  # the light has dimmed before the cut


def test_noisy_static_is_noise_over_a_still_scene(corpus: dict[str, Clip], other_corpus: dict[str, Clip]) -> None:
    for clip in both_splits("noisy_static", corpus, other_corpus):
        scores = consecutive_psnr(clip)
        assert 34 < scores.min() and scores.max() < 46, clip.name
        step = np.diff(clip.y.astype(np.float64), axis=0)
        assert 1.0 < step.std() < 4.0 and abs(step.mean()) < 0.2, clip.name  # zero-mean noise, a few levels


def test_rgb_to_yuv420_is_bt601_limited_range_with_2x2_chroma() -> None:
    rgb = np.zeros((1, 2, 4, 3))
    rgb[0, :, :2] = (1.0, 1.0, 1.0)  # a white 2x2 block, then a black/red checker
    rgb[0, 0, 2] = rgb[0, 1, 3] = (1.0, 0.0, 0.0)
    y, u, v = rgb_to_yuv420(rgb)
    assert y.tolist() == [[[235, 235, 81, 16], [235, 235, 16, 81]]]
    assert u.tolist() == [[[128, 109]]] and v.tolist() == [[[128, 184]]]  # red Cb 90, Cr 240 averaged with black


def test_unknown_name_lists_the_built_in_clips() -> None:
    names = ", ".join(CORPUS_NAMES)
    with pytest.raises(ClipError, match=f"unknown built-in clip 'foreman'; the built-in clips are {names}"):
        builtin_clip("foreman", secret=SECRET)
    with pytest.raises(ValueError, match="frames must be positive"):
        builtin_clip("pan_zoom", 0, secret=SECRET)


def test_crop_keeps_the_top_left_window_and_says_so():
    clip = builtin_clip("pan_zoom", frames=2, secret=SECRET)
    small = clip.crop(64, 48, name="small")
    assert small.name == "small" and small.y.shape == (2, 48, 64) and small.u.shape == (2, 24, 32)
    assert (small.y == clip.y[:, :48, :64]).all() and (small.v == clip.v[:, :24, :32]).all()
    assert small.notes[-1] == "top-left 64x48 of 352x288"
    with pytest.raises(ValueError, match="cannot crop"):
        clip.crop(63, 48)
