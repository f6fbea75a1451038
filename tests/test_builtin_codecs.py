"""The built-in reference codecs: the contract, rate-quality behaviour, determinism, parameters, corrupt input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from aiv.codec.builtin import BUILTIN_CODECS, hybrid, intra
from aiv.search.offline import GENES
from aiv.video.readers import read_clip

CODECS = {"intra": intra, "hybrid": hybrid}
CLIPS = Path(__file__).resolve().parents[2] / "shared" / "clips"


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth random texture, like camera content, as float [h, w] around mid-grey."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (h // 6 + 2, w // 6 + 2)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def _clip(frames: int, h: int, w: int, cut: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A panning texture with a moving bright square; a scene cut to new content at frame `cut`."""
    margin = 2 * frames + 4
    scenes = [_texture(h + margin, w + 2 * margin, seed) for seed in (1, 2)]
    y = np.empty((frames, h, w), np.uint8)
    for t in range(frames):
        canvas = scenes[1 if cut is not None and t >= cut else 0]
        frame = canvas[t : t + h, 2 * t : 2 * t + w].copy()
        top, left = (3 + t) % (h - 8), (5 + 3 * t) % (w - 8)
        frame[top : top + 8, left : left + 8] = 230
        y[t] = np.clip(frame, 0, 255).astype(np.uint8)
    small = y[:, ::2, ::2].astype(np.int16)
    u = np.clip(128 + (small - 128) // 4, 0, 255).astype(np.uint8)
    v = np.clip(128 - (small - 128) // 3, 0, 255).astype(np.uint8)
    return y, u, v


def _fade(frames: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_clip`'s panning texture fading towards black (chroma towards grey), to 35% brightness at the end."""
    gain = np.linspace(1.0, 0.35, frames)[:, None, None]
    y, u, v = _clip(frames, h, w)
    faded_y = np.rint(y * gain).astype(np.uint8)
    faded_u, faded_v = (np.rint(128 + (c.astype(np.float64) - 128) * gain).astype(np.uint8) for c in (u, v))
    return faded_y, faded_u, faded_v


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).reshape(a.shape[0], -1).mean(axis=1)
    return float(np.mean(10 * np.log10(255.0**2 / np.maximum(mse, 1e-10))))


@pytest.fixture(scope="module")
def moving() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _clip(16, 48, 64)


@pytest.fixture
def params():
    """Restore hybrid.PARAMS after a test rewrites it."""
    saved = dict(hybrid.PARAMS)
    yield hybrid.PARAMS
    hybrid.PARAMS.clear()
    hybrid.PARAMS.update(saved)


def test_registry_names_the_modules():
    assert BUILTIN_CODECS == ("intra", "hybrid")


@pytest.mark.parametrize("name", BUILTIN_CODECS)
@pytest.mark.parametrize("shape", [(16, 48, 64), (5, 20, 36), (3, 2, 2)])
def test_decode_returns_exact_shapes_and_dtype(name, shape):
    y, u, v = _clip(*shape) if shape[1] > 8 else tuple(np.full(s, 77, np.uint8) for s in (shape, (3, 1, 1), (3, 1, 1)))
    out = CODECS[name].decode(CODECS[name].encode(y, u, v, 30.0, 0.5))
    assert [a.shape for a in out] == [y.shape, u.shape, v.shape]
    assert all(a.dtype == np.uint8 for a in out)


@pytest.mark.parametrize("name", BUILTIN_CODECS)
def test_more_quality_means_more_bytes_and_higher_psnr(name, moving):
    y, u, v = moving
    sizes, psnrs = [], []
    for q in (0.1, 0.4, 0.7, 1.0):
        bits = CODECS[name].encode(y, u, v, 30.0, q)
        sizes.append(len(bits))
        psnrs.append(_psnr(y, CODECS[name].decode(bits)[0]))
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    assert psnrs == sorted(psnrs) and len(set(psnrs)) == len(psnrs)
    assert psnrs[-1] > 44.0


@pytest.mark.parametrize("name", BUILTIN_CODECS)
def test_encode_and_decode_are_deterministic(name, moving):
    y, u, v = moving
    first = CODECS[name].encode(y, u, v, 30.0, 0.6)
    assert CODECS[name].encode(y, u, v, 30.0, 0.6) == first
    a, b = CODECS[name].decode(first), CODECS[name].decode(first)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))


def _assert_decoder_rebuilds_the_encoders_references(monkeypatch, y, u, v, quality: float) -> None:
    """Every frame the decoder reconstructs equals, bit for bit, the encoder's reference for it."""
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    real = hybrid._reconstruct

    def spy(*args):
        out = real(*args)
        seen.append(out)
        return out

    monkeypatch.setattr(hybrid, "_reconstruct", spy)
    bits = hybrid.encode(y, u, v, 30.0, quality)
    encoder_side = list(seen)
    seen.clear()
    out = hybrid.decode(bits)
    assert len(encoder_side) == len(seen) == y.shape[0]
    for (ey, euv), (dy, duv) in zip(encoder_side, seen):
        assert np.array_equal(ey, dy) and np.array_equal(euv, duv)
    assert [a.shape for a in out] == [y.shape, u.shape, v.shape]


@pytest.mark.parametrize(
    ("shape", "cut"),
    [
        ((16, 48, 64), None),  # several groups of pictures
        ((7, 20, 36), None),  # sides that are not whole macroblocks
        ((2, 18, 22), None),  # shorter than one group of pictures
        ((3, 2, 2), None),  # smaller than one macroblock
        ((12, 48, 64), 6),  # a scene cut
    ],
)
def test_hybrid_decoder_rebuilds_the_encoders_reference_exactly(shape, cut, monkeypatch):
    y, u, v = (
        _clip(*shape, cut=cut)
        if shape[1] > 8
        else tuple(np.full(s, 77, np.uint8) for s in (shape, (3, 1, 1), (3, 1, 1)))
    )
    _assert_decoder_rebuilds_the_encoders_references(monkeypatch, y, u, v, 0.45)


def test_hybrid_splits_macroblocks_and_halves_transforms_and_rebuilds_them_exactly(monkeypatch):
    y, u, v = _clip(9, 48, 64)  # a bright square moving across a panning texture: two motions in some macroblocks
    coded = []
    real = hybrid._ac_frame

    def spy(coder, ctx, cfg, frame, nrefs):
        if coder.encoding:
            coded.append((int(frame.split.sum()), int(frame.small.sum())))
        return real(coder, ctx, cfg, frame, nrefs)

    monkeypatch.setattr(hybrid, "_ac_frame", spy)
    _assert_decoder_rebuilds_the_encoders_references(monkeypatch, y, u, v, 0.8)
    assert sum(split for split, _ in coded) > 0 and sum(small for _, small in coded) > 0


def test_hybrid_weights_its_references_on_a_fade_and_rebuilds_them_exactly(params, monkeypatch):
    y, u, v = _fade(12, 64, 96)
    params["weighted_pred"] = False
    plain = hybrid.encode(y, u, v, 30.0, 0.5)
    params["weighted_pred"] = True
    weighted_refs = []
    real = hybrid._code_weights

    def spy(coder, ctx, weights):
        out = real(coder, ctx, weights)
        if coder.encoding:
            weighted_refs.append(sum(w is not None for w in out))
        return out

    monkeypatch.setattr(hybrid, "_code_weights", spy)
    _assert_decoder_rebuilds_the_encoders_references(monkeypatch, y, u, v, 0.5)
    weighted = hybrid.encode(y, u, v, 30.0, 0.5)
    assert sum(n > 0 for n in weighted_refs) >= 8  # most of the 11 inter frames
    assert len(weighted) < 0.85 * len(plain)
    assert _psnr(y, hybrid.decode(weighted)[0]) > _psnr(y, hybrid.decode(plain)[0])


def test_hybrid_adaptive_quantisation_refines_flat_blocks_and_rebuilds_them_exactly(params, monkeypatch):
    y, u, v = _clip(9, 48, 64)
    y[:, :, :32] = 90  # the left half flat, the right half textured
    params["aq_strength"] = 1.0
    offsets = []
    real = hybrid._ac_frame

    def spy(coder, ctx, cfg, frame, nrefs):
        if coder.encoding:
            offsets.append(frame.dq.copy())
        return real(coder, ctx, cfg, frame, nrefs)

    monkeypatch.setattr(hybrid, "_ac_frame", spy)
    _assert_decoder_rebuilds_the_encoders_references(monkeypatch, y, u, v, 0.5)
    assert all((dq[:, :2] < 0).all() and (dq[:, 2:] > 0).all() for dq in offsets)  # finer steps where it is flat
    params["aq_strength"] = 0.0
    plain = hybrid.encode(y, u, v, 30.0, 0.5)
    params["aq_strength"] = 1.0
    assert len(hybrid.encode(y, u, v, 30.0, 0.5)) != len(plain)


def test_hybrid_weights_no_reference_of_a_steady_clip(monkeypatch, moving):
    weights = []
    real = hybrid._code_weights

    def spy(coder, ctx, given):
        weights.extend(given if coder.encoding else [])
        return real(coder, ctx, given)

    monkeypatch.setattr(hybrid, "_code_weights", spy)
    hybrid.encode(*moving, 30.0, 0.5)
    assert weights and all(w is None for w in weights)


def test_hybrid_weights_round_trip_and_out_of_range_weights_raise():
    weights = [None, (80, -12, 60, 5), (64, 0, 64, 0)]
    encoder = hybrid._RangeEncoder(1, 5)
    hybrid._code_weights(encoder, 0, weights)
    assert hybrid._code_weights(hybrid._RangeDecoder(encoder.finish(), 1, 5), 0, [None] * 3) == weights
    encoder = hybrid._RangeEncoder(1, 5)
    encoder.bit(0, 1)  # a weighted reference whose luma weight is one past the largest
    for value in (hybrid._WEIGHT_MAX + 1 - 64, 0, 0, 0):
        hybrid._signed_eg(encoder, value)
    with pytest.raises(ValueError, match="weights"):
        hybrid._code_weights(hybrid._RangeDecoder(encoder.finish(), 1, 5), 0, [None])


def test_hybrid_codes_a_scene_cut_as_a_key_frame():
    y, _, _ = _clip(12, 96, 128, cut=6)
    assert hybrid._key_frames(y, 250, hybrid.PARAMS["scenecut"]) == [0, 6]
    assert hybrid._key_frames(y, 250, 0.0) == [0]
    assert hybrid._key_frames(y, 5, 0.0) == [0, 5, 10]


def test_hybrid_plan_references_only_decoded_frames():
    plan = hybrid._plan(13, [0, 9], bframes=3, refs=2)
    assert sorted(c.display for c in plan) == list(range(13))
    done: set[int] = set()
    for coded in plan:
        assert set(coded.l0) | set(coded.l1) <= done
        assert all(d < coded.display for d in coded.l0) and all(d > coded.display for d in coded.l1)
        done.add(coded.display)
    kinds = {c.display: c.kind for c in plan}
    assert kinds[0] == kinds[9] == hybrid._I and kinds[4] == kinds[8] == kinds[12] == hybrid._P
    assert kinds[2] == hybrid._B and kinds[10] == hybrid._B


@pytest.mark.parametrize("shift", [(3, -5), (11, -13), (-16, 16)])
def test_hybrid_integer_search_finds_motion_beyond_its_first_window(shift):
    """The search looks within +-_NARROW_REACH first; blocks on that window's edge are searched over the whole range."""
    p = hybrid._validated(hybrid.PARAMS)
    texture = np.clip(_texture(160, 192, 3), 0, 255).astype(np.uint8)
    ref_y, (dy, dx) = texture[32:128, 32:160], shift
    cur = texture[32 + dy : 128 + dy, 32 + dx : 160 + dx]
    cfg = hybrid._config(p, (1, *ref_y.shape), 0.5, 1)
    assert hybrid._NARROW_REACH < cfg.search  # (3, -5) lies inside the first window, the others beyond it
    ref = hybrid._reference(ref_y, np.full((2, 48, 64), 128, np.uint8), cfg)
    mv = hybrid._integer_search(cur, ref.padded, cfg, lam=1.0)
    rows = slice(1, 5)  # blocks whose displaced block lies inside the reference, not in its padding
    cols = slice(1, 7)
    assert (mv[rows, cols] == np.array(shift) * cfg.subpel).all()


def test_hybrid_needs_far_fewer_bytes_than_intra_on_motion(moving):
    y, u, v = moving
    intra_bits = intra.encode(y, u, v, 30.0, 0.5)
    intra_psnr = _psnr(y, intra.decode(intra_bits)[0])
    for quality in (0.5, 0.6, 0.7, 0.8):  # the first hybrid point at least as good as intra's
        hybrid_bits = hybrid.encode(y, u, v, 30.0, quality)
        if _psnr(y, hybrid.decode(hybrid_bits)[0]) > intra_psnr:
            break
    else:
        pytest.fail(f"no hybrid point up to quality 0.8 reaches intra's {intra_psnr:.2f} dB")
    assert len(hybrid_bits) < 0.6 * len(intra_bits)


# One alternative per PARAMS entry, each applied on top of `base`.
ALTERNATIVES = {
    "block_size": ({}, {"block_size": 32}),
    "transform_size": ({}, {"transform_size": 4}),
    "search_range": ({}, {"search_range": 3}),
    "subpel": ({}, {"subpel": 2}),
    "interp": ({}, {"interp": "bilinear"}),
    "obmc": ({}, {"obmc": 0}),
    "key_interval": ({}, {"key_interval": 5}),
    "scenecut": ({}, {"scenecut": 0.0}),
    "bframes": ({}, {"bframes": 1}),
    "refs": ({}, {"refs": 1}),
    "q_min": ({}, {"q_min": 1.0}),
    "q_max": ({}, {"q_max": 300.0}),
    "chroma_q_scale": ({}, {"chroma_q_scale": 2.0}),
    "key_q_scale": ({}, {"key_q_scale": 1.2}),
    "b_q_scale": ({}, {"b_q_scale": 1.5}),
    "freq_weight": ({}, {"freq_weight": 1.5}),
    "intra_rounding": ({}, {"intra_rounding": 0.05}),
    "inter_rounding": ({}, {"inter_rounding": 0.45}),
    "rdoq": ({}, {"rdoq": False}),
    "lambda_scale": ({}, {"lambda_scale": 1.0}),
    "coef_bit_cost": ({}, {"coef_bit_cost": 20.0}),
    "intra_blocks": ({}, {"intra_blocks": False}),
    "intra_modes": ({}, {"intra_modes": 1}),
    "loop_filter": ({}, {"loop_filter": False}),
    "lf_alpha": ({}, {"lf_alpha": 0.5}),
    "lf_beta": ({}, {"lf_beta": 0.1}),
    "lf_tc": ({}, {"lf_tc": 1.0}),
    "arith_shift": ({}, {"arith_shift": 3}),
    "partitions": ({}, {"partitions": False}),
    "sub_search": ({}, {"sub_search": 8}),
    "transform_split": ({}, {"transform_split": False}),
    "weighted_pred": ({}, {"weighted_pred": False}),
    "aq_strength": ({}, {"aq_strength": 1.0}),
}


def test_every_parameter_is_covered():
    assert set(ALTERNATIVES) == set(hybrid.PARAMS)


@pytest.mark.parametrize("key", sorted(ALTERNATIVES))
def test_every_parameter_changes_the_bitstream(key, params):
    # a scene cut, so intra blocks appear in a P frame; weights only matter where the brightness changes
    y, u, v = _fade(12, 64, 96) if key == "weighted_pred" else _clip(12, 48, 64, cut=6)
    base, changed = ALTERNATIVES[key]
    defaults = dict(params)
    params.update(base)
    before = hybrid.encode(y, u, v, 30.0, 0.5)
    params.clear()
    params.update(defaults)
    params.update(changed)
    after = hybrid.encode(y, u, v, 30.0, 0.5)
    assert after != before
    out = hybrid.decode(after)
    assert _psnr(y, out[0]) > 27.5  # lambda_scale 1.0 (11x the default) lands near 28 dB on this small clip


def test_the_offline_proposer_mutates_every_parameter():
    assert set(GENES) == set(hybrid.PARAMS)


@pytest.mark.parametrize(
    ("key", "value"), [(key, value) for key, gene in sorted(GENES.items()) for value in gene.extremes]
)
def test_every_value_the_offline_proposer_can_set_round_trips_exactly(key, value, params, monkeypatch):
    y, u, v = _clip(6, 24, 40, cut=4)
    params[key] = value
    if key == "block_size":
        params["transform_size"] = min(params["transform_size"], value // 2)
    if key == "transform_size":
        params["block_size"] = max(params["block_size"], 2 * value)
    _assert_decoder_rebuilds_the_encoders_references(monkeypatch, y, u, v, 0.5)


@pytest.mark.parametrize(
    "bad",
    [
        {"block_size": 12},
        {"block_size": 16.0},
        {"transform_size": 16},  # block 16 cannot hold two chroma transforms of 16
        {"search_range": 0},
        {"subpel": 3},
        {"interp": "lanczos"},
        {"obmc": 9},
        {"key_interval": 0},
        {"q_min": -1.0},
        {"q_min": 50.0, "q_max": 10.0},
        {"chroma_q_scale": 0},
        {"intra_rounding": 0.9},
        {"lambda_scale": 0.0},
        {"intra_blocks": "yes"},
        {"loop_filter": 1},
        {"lf_tc": -1.0},
        {"arith_shift": 9},
        {"bframes": 16},
        {"refs": 0},
        {"scenecut": -1.0},
        {"b_q_scale": 3.0},
        {"rdoq": 1},
        {"intra_modes": 5},
        {"partitions": 1},
        {"sub_search": 0},
        {"transform_split": "yes"},
        {"weighted_pred": 1},
        {"entropy": "lzma"},
        {"colour": "blue"},
    ],
)
def test_nonsense_parameters_raise_value_error(bad, params, moving):
    y, u, v = moving
    params.update(bad)
    with pytest.raises(ValueError, match="PARAMS"):
        hybrid.encode(y[:2], u[:2], v[:2], 30.0, 0.5)


@pytest.mark.parametrize("name", BUILTIN_CODECS)
def test_bad_input_raises_value_error(name, moving):
    y, u, v = moving
    codec = CODECS[name]
    with pytest.raises(ValueError, match="quality"):
        codec.encode(y, u, v, 30.0, 1.5)
    with pytest.raises(ValueError):
        codec.encode(y[:, :, :63], u, v, 30.0, 0.5)
    with pytest.raises(ValueError):
        codec.encode(y.astype(np.int16), u, v, 30.0, 0.5)


@pytest.mark.parametrize("name", BUILTIN_CODECS)
def test_truncated_or_padded_bitstreams_raise(name, moving):
    y, u, v = moving
    bits = CODECS[name].encode(y, u, v, 30.0, 0.5)
    for broken in (bits[:-1], bits[: len(bits) // 2], bits[:10], b"", bits + b"\0"):
        with pytest.raises(ValueError):
            CODECS[name].decode(broken)


def test_truncated_range_coded_payload_raises_even_with_a_consistent_length(moving):
    """Cut the range coder's payload and fix up its length: the decoder must still refuse."""
    y, u, v = moving
    bits = hybrid.encode(y, u, v, 30.0, 0.5)
    head = hybrid._HEADER.size + 4 * hybrid._unpack_header(bits)[0].keys
    payload = bits[head + 4 :]
    short = payload[: len(payload) - 3]
    forged = bits[:head] + len(short).to_bytes(4, "little") + short
    with pytest.raises(ValueError):
        hybrid.decode(forged)


def _foreman(frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    clip = read_clip(CLIPS / "foreman_cif.264", frames=frames)
    return clip.y, clip.u, clip.v


@pytest.mark.clips
@pytest.mark.skipif(not (CLIPS / "foreman_cif.264").exists(), reason="shared clips are absent")
def test_hybrid_beats_intra_on_foreman():
    y, u, v = _foreman(6)
    results = {}
    for name in BUILTIN_CODECS:
        bits = CODECS[name].encode(y, u, v, 30.0, 0.5)
        results[name] = (len(bits), _psnr(y, CODECS[name].decode(bits)[0]))
    assert 33.0 < results["hybrid"][1] < 42.0
    assert results["hybrid"][1] > results["intra"][1] - 1.5
    assert results["hybrid"][0] < 0.5 * results["intra"][0]


# ---- the CUDA job's motion search (torch), run here on torch's CPU device: the same code, the same integers


@pytest.fixture
def torch_search(monkeypatch):
    """hybrid searching motion with torch, as on a CUDA job, on torch's CPU device."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(hybrid, "_search_device", lambda: torch.device("cpu"))
    return torch.device("cpu")


def test_hybrid_searches_with_numpy_unless_the_job_is_on_cuda(monkeypatch):
    assert hybrid.DEVICE == "cpu" and hybrid._search_device() is None
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(hybrid, "DEVICE", "cuda")
    assert hybrid._search_device() == torch.device("cuda")


@pytest.mark.parametrize(("block", "search", "shape"), [(16, 16, (48, 80)), (8, 3, (24, 40)), (32, 5, (64, 96))])
def test_torch_search_costs_are_the_exact_ssds(block, search, shape, torch_search):
    p = {**hybrid._validated(hybrid.PARAMS), "block_size": block, "search_range": search, "transform_size": 4}
    cfg = hybrid._config(p, (1, *shape), 0.5, 1)
    rng = np.random.default_rng(block)
    cur = rng.integers(0, 256, shape, dtype=np.uint8)
    ref_padded = np.pad(rng.integers(0, 256, shape, dtype=np.uint8), cfg.pad, mode="edge")
    got = hybrid._torch_window_costs(cur, ref_padded, cfg, torch_search)
    rows, cols = cfg.grid
    n, b = 2 * search + 1, block
    want = np.empty((rows * cols, n, n), np.int64)
    for k in range(rows * cols):
        by, bx = divmod(k, cols)
        mb = cur[by * b : by * b + b, bx * b : bx * b + b].astype(np.int64)
        for i in range(n):
            for j in range(n):
                y0, x0 = by * b + cfg.pad - search + i, bx * b + cfg.pad - search + j
                want[k, i, j] = ((ref_padded[y0 : y0 + b, x0 : x0 + b] - mb) ** 2).sum()
    assert got.dtype == np.float64 and np.array_equal(got, want.reshape(rows * cols, n * n))


def test_torch_subpel_ssds_equal_numpys(torch_search):
    rng = np.random.default_rng(5)
    phases = rng.integers(0, 256, (96, 128), dtype=np.uint8)
    target = rng.integers(0, 256, (6, 8, 8), dtype=np.int32)
    base = rng.integers(200, 96 * 128 - 200, (6, 8, 8)).astype(np.int32)
    offsets = rng.integers(-150, 150, (5, 6))
    want = hybrid._NumpySSD(phases, base, target)(offsets)
    got = hybrid._TorchSSD(phases, base, target, torch_search)(offsets)
    moved = base[None] + offsets[:, :, None, None]
    exact = ((phases.reshape(-1)[moved].astype(np.int64) - target) ** 2).sum((-2, -1))
    assert want.shape == (5, 6) and np.array_equal(want, exact) and np.array_equal(got, exact)


@pytest.mark.parametrize("shift", [(3, -5), (-16, 16)])
def test_torch_integer_search_covers_the_whole_range(shift, torch_search):
    p = hybrid._validated(hybrid.PARAMS)
    texture = np.clip(_texture(160, 192, 3), 0, 255).astype(np.uint8)
    ref_y, (dy, dx) = texture[32:128, 32:160], shift
    cur = texture[32 + dy : 128 + dy, 32 + dx : 160 + dx]
    cfg = hybrid._config(p, (1, *ref_y.shape), 0.5, 1)
    ref = hybrid._reference(ref_y, np.full((2, 48, 64), 128, np.uint8), cfg)
    mv = hybrid._integer_search(cur, ref.padded, cfg, 1.0, torch_search)
    assert (mv[1:5, 1:7] == np.array(shift) * cfg.subpel).all()  # blocks whose match lies inside the reference


def test_hybrid_on_torch_rebuilds_exactly_and_codes_like_the_numpy_search(torch_search, monkeypatch):
    """On a CUDA job only the search's SSDs move to torch (exact, and over the whole range): the decoder, numpy on
    every device, rebuilds the encoder's references bit for bit, and rate and quality stay close to the CPU's."""
    y, u, v = _clip(9, 48, 64)
    searched = []
    real = hybrid._torch_window_costs
    monkeypatch.setattr(hybrid, "_torch_window_costs", lambda *args: searched.append(1) or real(*args))
    _assert_decoder_rebuilds_the_encoders_references(monkeypatch, y, u, v, 0.6)
    assert searched  # the torch search ran
    on_torch = hybrid.encode(y, u, v, 30.0, 0.6)
    monkeypatch.setattr(hybrid, "_search_device", lambda: None)
    on_numpy = hybrid.encode(y, u, v, 30.0, 0.6)
    psnr_torch, psnr_numpy = (_psnr(hybrid.decode(bits)[0], y) for bits in (on_torch, on_numpy))
    assert abs(len(on_torch) / len(on_numpy) - 1) < 0.05 and abs(psnr_torch - psnr_numpy) < 0.2
