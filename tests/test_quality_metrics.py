"""PSNR and SSIM against scikit-image, the PSNR cap, the YUV weighting and bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from aiv.metrics import quality
from aiv.metrics.quality import (
    PSNR_CAP_DB,
    psnr_frames,
    psnr_y,
    psnr_yuv,
    psnr_yuv_frames,
    ssim_frames,
    ssim_frames_torch,
    ssim_y,
)

CLIPS = Path(__file__).resolve().parents[2] / "shared" / "clips"
# The task's bound is 1e-4; both paths actually agree with scikit-image to rounding error.
SSIM_TOLERANCE = 1e-10


def skimage_ssim(ref: np.ndarray, dist: np.ndarray) -> np.ndarray:
    return np.array(
        [
            structural_similarity(r, d, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
            for r, d in zip(ref, dist)
        ]
    )


def skimage_psnr(ref: np.ndarray, dist: np.ndarray) -> np.ndarray:
    return np.array([peak_signal_noise_ratio(r, d, data_range=255) for r, d in zip(ref, dist)])


def noisy(frames: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(frames + rng.normal(0, sigma, frames.shape), 0, 255).astype(np.uint8)


def natural(frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Camera-like frames: smooth blobs, a hard edge, fine texture, a little motion."""
    rng = np.random.default_rng(seed)
    field = cv2.GaussianBlur(rng.normal(128, 60, (height + 8, width + 8)), (0, 0), 3)
    field += rng.normal(0, 6, field.shape)
    field[:, (width + 8) // 2 :] += 40
    return np.stack([np.clip(field[t % 8 : t % 8 + height, t : t + width], 0, 255) for t in range(frames)]).astype(
        np.uint8
    )


def jpeg(frames: np.ndarray, level: int) -> np.ndarray:
    return np.stack(
        [
            cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, level])[1], cv2.IMREAD_GRAYSCALE)
            for f in frames
        ]
    )


def structured_pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    random_frames = rng.integers(0, 256, (3, 17, 23), dtype=np.uint8)
    yy, xx = np.mgrid[0:40, 0:52]
    ramp = np.stack([(xx * 4 + yy * 2 + t) % 256 for t in range(2)]).astype(np.uint8)
    checker = np.stack([((xx // 4 + yy // 4) % 2) * 255] * 2).astype(np.uint8)
    flat = np.full((2, 11, 11), 77, np.uint8)
    scene = natural(3, 45, 61)
    return [
        ("random 17x23", random_frames, noisy(random_frames, 20)),
        ("random vs random", random_frames, rng.integers(0, 256, (3, 17, 23), dtype=np.uint8)),
        ("ramp vs shifted ramp", ramp, np.roll(ramp, 3, axis=2)),
        ("checker vs blurred", checker, cv2.GaussianBlur(checker.reshape(-1, 52), (5, 5), 1).reshape(2, 40, 52)),
        ("flat vs flat", flat, np.full((2, 11, 11), 90, np.uint8)),
        ("flat vs noise", flat, noisy(flat, 3)),
        ("scene vs jpeg", scene, jpeg(scene, 20)),
        ("scene vs extremes", scene, np.where(scene > 128, 255, 0).astype(np.uint8)),
    ]


@pytest.mark.parametrize("name,ref,dist", structured_pairs(), ids=[p[0] for p in structured_pairs()])
def test_ssim_matches_skimage(name, ref, dist):
    expected = skimage_ssim(ref, dist)
    assert np.abs(ssim_frames(ref, dist) - expected).max() < SSIM_TOLERANCE
    assert np.abs(ssim_frames_torch(ref, dist, "cpu") - expected).max() < SSIM_TOLERANCE
    assert ssim_y(ref, dist) == pytest.approx(expected.mean(), abs=SSIM_TOLERANCE)


def test_ssim_of_identical_frames_is_one_and_distortion_lowers_it():
    scene = natural(2, 36, 48)
    assert np.allclose(ssim_frames(scene, scene), 1.0)
    mild, strong = ssim_y(scene, jpeg(scene, 60)), ssim_y(scene, jpeg(scene, 5))
    assert 1.0 > mild > strong


def test_ssim_is_the_same_across_chunks(monkeypatch):
    """Frames split into chunks (here 1-2 frames each) give exactly what one chunk gives."""
    ref = natural(5, 24, 30)
    dist = noisy(ref, 10)
    whole = ssim_frames(ref, dist)
    monkeypatch.setattr(quality, "_SSIM_CHUNK_PIXELS", 24 * 30 * 2)
    np.testing.assert_array_equal(ssim_frames(ref, dist), whole)
    assert np.abs(ssim_frames_torch(ref, dist) - whole).max() < SSIM_TOLERANCE


def test_ssim_of_non_contiguous_views():
    base = natural(4, 40, 60)
    ref, dist = base[::2, 1::2, ::3], noisy(base, 8)[::2, 1::2, ::3]
    assert np.abs(ssim_frames(ref, dist) - skimage_ssim(ref, dist)).max() < SSIM_TOLERANCE
    assert np.abs(psnr_frames(ref, dist) - skimage_psnr(ref, dist)).max() < 1e-9


def test_psnr_matches_skimage():
    for shape, sigma in (((3, 17, 23), 2), ((2, 64, 48), 25), ((1, 11, 11), 60)):
        ref = natural(*shape)
        dist = noisy(ref, sigma)
        np.testing.assert_allclose(psnr_frames(ref, dist), skimage_psnr(ref, dist), rtol=0, atol=1e-9)
        assert psnr_y(ref, dist) == pytest.approx(skimage_psnr(ref, dist).mean(), abs=1e-9)


def test_exact_frames_report_the_cap_and_lossy_frames_do_not():
    ref = natural(3, 16, 16)
    dist = ref.copy()
    dist[1, 0, 0] ^= 1  # one pixel off by one: the closest a lossy 8-bit frame can come
    values = psnr_frames(ref, dist)
    assert values[0] == values[2] == PSNR_CAP_DB
    assert values[1] == pytest.approx(10 * np.log10(255**2 * 256))
    assert values[1] < PSNR_CAP_DB
    assert psnr_y(ref, ref) == PSNR_CAP_DB


def test_psnr_yuv_weights_luma_six_to_one_to_one():
    y, u, v = natural(2, 32, 32), natural(2, 16, 16, seed=1), natural(2, 16, 16, seed=2)
    dist = (noisy(y, 4), noisy(u, 12), v.copy())
    expected = (6 * skimage_psnr(y, dist[0]) + skimage_psnr(u, dist[1]) + PSNR_CAP_DB) / 8
    np.testing.assert_allclose(psnr_yuv_frames((y, u, v), dist), expected, rtol=0, atol=1e-9)
    assert psnr_yuv((y, u, v), dist) == pytest.approx(expected.mean(), abs=1e-9)


@pytest.mark.parametrize(
    "ref,dist,message",
    [
        (np.zeros((2, 16, 16), np.uint8), np.zeros((2, 16, 18), np.uint8), "differs"),
        (np.zeros((2, 16, 16), np.uint8), np.zeros((3, 16, 16), np.uint8), "differs"),
        (np.zeros((2, 16, 16), np.uint8), np.zeros((2, 16, 16), np.uint16), "uint8"),
        (np.zeros((2, 16, 16), np.float64), np.zeros((2, 16, 16), np.uint8), "uint8"),
        (np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.uint8), "uint8 \\[T, H, W\\]"),
        (np.zeros((0, 16, 16), np.uint8), np.zeros((0, 16, 16), np.uint8), "empty"),
        ([[[0]]], np.zeros((1, 1, 1), np.uint8), "list"),
    ],
)
def test_mismatched_or_malformed_input_is_a_value_error(ref, dist, message):
    with pytest.raises(ValueError, match=message):
        psnr_frames(ref, dist)
    with pytest.raises(ValueError, match=message):
        ssim_frames(ref, dist)
    with pytest.raises(ValueError, match=message):
        ssim_frames_torch(ref, dist)


def test_yuv_needs_three_matching_planes():
    y, c = np.zeros((2, 16, 16), np.uint8), np.zeros((2, 8, 8), np.uint8)
    with pytest.raises(ValueError, match="expected \\(y, u, v\\)"):
        psnr_yuv_frames((y, c), (y, c))
    with pytest.raises(ValueError, match="differs"):
        psnr_yuv_frames((y, c, c), (y, c, np.zeros((2, 8, 6), np.uint8)))
    with pytest.raises(ValueError, match="frame counts"):
        psnr_yuv_frames((y, c[:1], c), (y, c[:1], c))


def test_ssim_needs_frames_as_large_as_its_window():
    small = np.zeros((1, 10, 40), np.uint8)
    with pytest.raises(ValueError, match="smaller than the 11x11 window"):
        ssim_frames(small, small)


def test_ssim_on_a_missing_cuda_device_says_so():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    frames = natural(1, 16, 16)
    with pytest.raises(ValueError, match="no CUDA device"):
        ssim_frames(frames, frames, device="cuda")


@pytest.mark.clips
@pytest.mark.skipif(not (CLIPS / "foreman_cif.264").exists(), reason="shared clips are not present")
def test_real_clip_matches_skimage():
    from aiv.video.readers import read_clip

    clip = read_clip(CLIPS / "foreman_cif.264", frames=3)
    dist = jpeg(clip.y, 30)
    assert np.abs(ssim_frames(clip.y, dist) - skimage_ssim(clip.y, dist)).max() < SSIM_TOLERANCE
    np.testing.assert_allclose(psnr_frames(clip.y, dist), skimage_psnr(clip.y, dist), rtol=0, atol=1e-9)


def test_ssim_on_cuda_matches_skimage():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here")
    ref = natural(4, 45, 61)
    dist = jpeg(ref, 20)
    assert np.abs(ssim_frames(ref, dist, device="cuda") - skimage_ssim(ref, dist)).max() < SSIM_TOLERANCE
