"""Hybrid reference codec: motion-compensated prediction plus a DCT residual, the search's seed.

Group of pictures: frame 0, every `key_interval`-th frame after the last key frame and every
detected scene cut (a coarse motion-compensated difference large against the frame's own texture)
are key frames. Between key frames, anchors every `bframes + 1` frames are P frames predicted from
the `refs` latest anchors (a reference index per macroblock); the frames between two anchors are
B frames coded hierarchically (the middle one first, from the nearest decoded frames on either
side, then each half), each macroblock predicted from the past, the future or both (averaged),
with a direct mode (the predicted vectors of the directions its neighbours predict in, else of both;
no residual). B frames use coarser steps per level.

Weighted prediction (`weighted_pred`): per inter frame and reference, the encoder estimates a luma
and a chroma weight (1/64) and offset from the frames' means and deviations and keeps them where they
clearly lower a coarse motion-compensated error; the frame then predicts from the weighted copy
clip(round(weight * pel / 64) + offset) of the reference (a flag per reference, the values if set).

Macroblocks: the encoder runs an integer motion search per reference (within 8 pels, then over the
whole range for blocks on that window's edge or next to motion beyond it; SSD from
OpenCV's template matcher plus a rate term for the vector's distance from its median predictor),
refines it to half and quarter pel on an H.264-style six-tap (or bilinear) interpolated reference,
then picks by rate-distortion cost between inter (each reference or direction), intra and skip.
An inter macroblock may be split (`partitions`): four sub-blocks, or two halves stacked or side by
side, each with its own vector (searched within `sub_search` pels of the macroblock's vector and of
its neighbours' vectors, the partition chosen by motion cost, the split by rate-distortion cost
against one vector; skipped where the single vector's cost is already below a split's side bits, in
B frames below `_SPLIT_B_MIN_COST` lambdas times the B level squared; a B split predicts from one
direction).
Its luma residual may use transforms of half the size (`transform_split`, by rate-distortion cost).
Intra macroblocks (all of a key frame's, and any in P/B frames) are predicted transform block
by transform block from reconstructed neighbours (DC, vertical, horizontal, planar and two
diagonals, each block's mode chosen by rate-distortion cost; chroma follows the first block's). Prediction may be overlapped (OBMC). Residuals are transformed with an
orthonormal DCT and quantised with a dead zone (optionally followed by RDOQ: a rate-distortion
decision per level and on dropping each block's trailing levels, under a rate model that also counts
the significance flags of the zeros ahead of a block's last level) and a step that falls
exponentially with `quality`; transform
blocks whose coefficients are not worth their bits are zeroed. Adaptive quantisation (`aq_strength`)
scales a macroblock's steps by 2^(dq/6), dq from its luma variance against the frame's (finer where
flat), and weighs its decisions with the lam of its own step; a macroblock with levels codes the change
of dq from the last such macroblock. Reconstruction is integer-exact
(integer inverse transform, intra prediction, interpolation, OBMC and deblocking filter), so the
encoder's reference equals the decoder's output bit for bit.

On a CUDA job (the lab sets `DEVICE` to "cuda") the motion search's SSDs are computed by torch on the
GPU in integers: the integer search covers the whole range for every block at once, and sub-pel
refinement samples the same phases. Every decision is then taken in numpy as on the CPU, and
reconstruction is numpy on every device, so any decoder rebuilds the encoder's reference exactly; the
bytes may differ from a CPU encode's where the exact SSDs or the wider search choose another vector.

Entropy coding is a context-adaptive binary range coder (CABAC-like: significance map with last
flags, level bins with context from the block's levels so far, neighbour-conditioned mode,
reference, direction, intra-mode, vector, partition, transform-size and coded-block flags; the small
transforms and sub-block vectors have contexts of their own). Every choice sits in PARAMS
below; what the decoder needs is in the header.

Contract: encode(y, u, v, fps, quality) -> bytes; decode(bitstream) -> (y, u, v).
"""

import functools
import itertools
import struct
from dataclasses import astuple, dataclass, replace

import cv2
import numpy as np

# --- parameters: the offline proposer rewrites this block ---
PARAMS = {
    "block_size": 16,  # macroblock side in luma pixels: 8, 16 or 32
    "transform_size": 8,  # DCT side: 4, 8 or 16; block_size must be a multiple of 2 * transform_size
    "search_range": 16,  # integer motion search range in luma pixels, 1..64
    "subpel": 4,  # motion vector precision: 1 (integer), 2 (half) or 4 (quarter pel)
    "interp": "sixtap",  # luma sub-pel interpolation: "sixtap" (H.264 filter) or "bilinear"
    "obmc": 4,  # overlapped motion compensation: a neighbour's weight (in 1/16) at a block edge, 0 (off)..8
    "key_interval": 250,  # at most this many frames from one key frame to the next, >= 1
    "scenecut": 0.8,  # a frame whose coarse motion-compensated difference exceeds this share of its texture is a key frame, 0 (off)..4
    "bframes": 3,  # B frames between two anchors (coded hierarchically), 0..15
    "refs": 2,  # reference frames of a P frame (its latest anchors), 1..4
    "q_min": 5.0,  # quantisation step at quality 1 (orthonormal DCT units), > 0
    "q_max": 120.0,  # quantisation step at quality 0, >= q_min
    "chroma_q_scale": 1.5,  # chroma step / luma step, > 0
    "key_q_scale": 0.6,  # key-frame step / P-frame step, > 0
    "b_q_scale": 1.4,  # B-frame step / the step of the level above (P frames at the top), 0.5..2
    "freq_weight": 0.0,  # step grows by (1 + freq_weight) from DC to the highest frequency, 0..3
    "intra_rounding": 0.45,  # dead-zone rounding offset for intra blocks, 0..0.5
    "inter_rounding": 0.3,  # dead-zone rounding offset for inter blocks, 0..0.5
    "rdoq": True,  # rate-distortion decision between each level and the next smaller one, and on dropping a block's last levels
    "lambda_scale": 0.09,  # Lagrange multiplier / step^2 for every rate-distortion decision, > 0
    "coef_bit_cost": 4.0,  # estimated bits of a nonzero level besides its magnitude (and the zeros ahead of it), > 0
    "intra_blocks": True,  # allow intra macroblocks in P and B frames
    "intra_modes": 6,  # intra prediction modes tried: 1 (DC), 3 (+ vertical, horizontal), 4 (+ planar), 6 (+ two diagonals)
    "loop_filter": True,  # deblocking filter on transform block edges, in the prediction loop
    "lf_alpha": 2.0,  # edge threshold |p0 - q0| < lf_alpha * step, 0..7
    "lf_beta": 0.5,  # flatness threshold |p1 - p0| < lf_beta * step, 0..7
    "lf_tc": 0.25,  # largest correction per filtered edge / step (doubled on intra edges), 0..7
    "arith_shift": 5,  # adaptation speed of the range coder's probabilities (smaller = faster), 3..7
    "partitions": True,  # per inter macroblock, a rate-distortion choice between one vector and four sub-block vectors
    "sub_search": 1,  # integer search reach (luma pels) of the sub-block vectors around their macroblock's vector, 1..8
    "transform_split": True,  # per inter macroblock, a rate-distortion choice of a luma DCT of transform_size / 2 (off at size 4)
    "weighted_pred": True,  # per inter frame and reference, a luma and a chroma weight and offset (fades), kept where they match it clearly better
    "aq_strength": 0.0,  # adaptive quantisation: a macroblock's steps scale by 2^(dq/6), dq = strength * (log2 of its luma variance - the frame's mean), within +-6; 0 (off)..3
}
# --- end parameters ---

MAGIC = b"AIVH"
VERSION = 4
DEVICE = "cpu"  # the job's device, "cpu" or "cuda": the lab sets it after importing the module, before any call
_HEADER = struct.Struct("<4sBIHHBBBBBBBBHHHHHBBBBBBBBBI")
_LEN = struct.Struct("<I")
_INTERP = ("sixtap", "bilinear")
_SKIP, _INTER, _INTRA = 0, 1, 2
_I, _P, _B = 0, 1, 2  # frame types
_INTRA_MODE_SETS = {1: (0,), 3: (0, 1, 2), 4: (0, 1, 2, 3), 6: (0, 1, 2, 3, 4, 5)}  # DC, V, H, planar, down-left, down-right
_N_INTRA_MODES = 6
_DCT_BITS = 12  # precision of the integer inverse DCT matrix
_SIXTAP = (1, -5, 20, 20, -5, 1)
# partitions of an inter macroblock: 0 one vector, 1 four sub-blocks, 2 two halves stacked (top, bottom),
# 3 two halves side by side (left, right); each sub-block (raster order) takes the vector of `_PARTNER`'s
# pairing, and only the `_CODED_SUBS` carry their own
_PARTNER = {1: (0, 1, 2, 3), 2: (1, 0, 3, 2), 3: (2, 3, 0, 1)}
_CODED_SUBS = {1: (0, 1, 2, 3), 2: (0, 2), 3: (0, 1)}
# the coefficient rate model's bits per zero ahead of a block's last nonzero level, and per doubling of a nonzero
# level's magnitude (a least-squares fit of the range coder's bits per block on bikes.mp4 gives 0.75 and 1.65, with
# 3.4 bits per nonzero level; these rounder values code the target clips better)
_ZERO_BITS = 0.8
_LEVEL_BITS = 2.0
_RDOQ_TAIL = 3  # how many times RDOQ tests dropping a block's last nonzero level
_SPLIT_MIN_BITS = 8.0  # the fewest bits a split's partition flags and extra vectors take (for early termination)
_NARROW_REACH = 8  # pels: the integer search tries this window first (32 pixels wide: OpenCV matches 16x16 blocks in it fastest)
_DQ_MAX = 6  # the largest step offset of a macroblock (adaptive quantisation): steps scale by 2^(dq/6), at most 2x either way
_DQ_SCALE = np.array([round(65536 * 2 ** (d / 6)) for d in range(-_DQ_MAX, _DQ_MAX + 1)], np.int64)  # 2^(dq/6) in 1/65536
_SPLIT_B_MIN_COST = 24.0  # B macroblocks whose best one-vector cost is below this many lambdas times their B level squared are not split


@dataclass(frozen=True)
class _Config:
    """Everything the decoder needs, exactly as written in the header (the key frames follow it)."""

    frames: int
    height: int
    width: int
    block: int
    tsize: int
    search: int
    subpel: int
    interp: int
    obmc: int
    refs: int
    bframes: int
    q16_key_y: int
    q16_key_c: int
    q16_p_y: int
    q16_p_c: int
    b_scale64: int
    weight64: int
    loop_filter: int
    lf_alpha32: int
    lf_beta32: int
    lf_tc32: int
    arith_shift: int
    partitions: int  # 1: inter macroblocks may be split into four sub-blocks with their own vectors
    tsplit: int  # 1: inter macroblocks may code luma with a transform of half the size
    aq: int  # 1: each macroblock with levels codes a step offset (adaptive quantisation)
    keys: int  # how many key frames (their indices follow the header)

    @property
    def pad(self) -> int:
        """Margin of the padded luma reference: the search range plus room for sub-pel taps."""
        return self.search + 8

    @property
    def grid(self) -> tuple[int, int]:
        """Macroblock rows and columns."""
        return -(-self.height // self.block), -(-self.width // self.block)


# ----------------------------------------------------------------------------------------------
# parameters and header


def _number(params: dict, key: str, lo: float, hi: float) -> float:
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ValueError(f"hybrid: PARAMS[{key!r}] = {value!r} must be a number in [{lo}, {hi}]")
    return float(value)


def _choice(params: dict, key: str, allowed: tuple) -> object:
    value = params.get(key)
    if type(value) is not type(allowed[0]) or value not in allowed:
        raise ValueError(f"hybrid: PARAMS[{key!r}] = {value!r} must be one of {allowed}")
    return value


def _integer(params: dict, key: str, lo: int, hi: int) -> int:
    value = params.get(key)
    if type(value) is not int or not lo <= value <= hi:
        raise ValueError(f"hybrid: PARAMS[{key!r}] = {value!r} must be an integer in [{lo}, {hi}]")
    return value


_PARAM_KEYS = (
    "block_size", "transform_size", "search_range", "subpel", "interp", "obmc", "key_interval", "scenecut", "bframes",
    "refs", "q_min", "q_max", "chroma_q_scale", "key_q_scale", "b_q_scale", "freq_weight", "intra_rounding",
    "inter_rounding", "rdoq", "lambda_scale", "coef_bit_cost", "intra_blocks", "intra_modes", "loop_filter", "lf_alpha",
    "lf_beta", "lf_tc", "arith_shift", "partitions", "sub_search", "transform_split", "weighted_pred", "aq_strength",
)  # fmt: skip


def _validated(params: dict) -> dict:
    """PARAMS checked and normalised; ValueError names the first bad entry."""
    unknown = set(params) - set(_PARAM_KEYS)
    if unknown:
        raise ValueError(f"hybrid: unknown PARAMS entries {sorted(unknown)} (known: {', '.join(_PARAM_KEYS)})")
    p = {
        "block_size": _choice(params, "block_size", (8, 16, 32)),
        "transform_size": _choice(params, "transform_size", (4, 8, 16)),
        "search_range": _integer(params, "search_range", 1, 64),
        "subpel": _choice(params, "subpel", (1, 2, 4)),
        "interp": _choice(params, "interp", _INTERP),
        "obmc": _integer(params, "obmc", 0, 8),
        "key_interval": _integer(params, "key_interval", 1, 1 << 31),
        "bframes": _integer(params, "bframes", 0, 15),
        "refs": _integer(params, "refs", 1, 4),
        "rdoq": _choice(params, "rdoq", (True, False)),
        "intra_blocks": _choice(params, "intra_blocks", (True, False)),
        "intra_modes": _choice(params, "intra_modes", tuple(_INTRA_MODE_SETS)),
        "loop_filter": _choice(params, "loop_filter", (True, False)),
        "arith_shift": _integer(params, "arith_shift", 3, 7),
        "partitions": _choice(params, "partitions", (True, False)),
        "sub_search": _integer(params, "sub_search", 1, 8),
        "transform_split": _choice(params, "transform_split", (True, False)),
        "weighted_pred": _choice(params, "weighted_pred", (True, False)),
    }
    if p["block_size"] % (2 * p["transform_size"]):
        raise ValueError(
            f"hybrid: PARAMS['block_size'] = {p['block_size']} must be a multiple of 2 * transform_size "
            f"({2 * p['transform_size']}) so chroma blocks hold whole transforms"
        )
    for key, lo, hi in (
        ("scenecut", 0.0, 4.0),
        ("q_min", 0.25, 400.0),
        ("q_max", 0.25, 400.0),
        ("chroma_q_scale", 0.1, 8.0),
        ("key_q_scale", 0.1, 8.0),
        ("b_q_scale", 0.5, 2.0),
        ("freq_weight", 0.0, 3.0),
        ("intra_rounding", 0.0, 0.5),
        ("inter_rounding", 0.0, 0.5),
        ("lambda_scale", 1e-4, 10.0),
        ("coef_bit_cost", 0.1, 64.0),
        ("lf_alpha", 0.0, 7.0),
        ("lf_beta", 0.0, 7.0),
        ("lf_tc", 0.0, 7.0),
        ("aq_strength", 0.0, 3.0),
    ):
        p[key] = _number(params, key, lo, hi)
    if p["q_min"] > p["q_max"]:
        raise ValueError(f"hybrid: PARAMS['q_min'] = {p['q_min']} exceeds PARAMS['q_max'] = {p['q_max']}")
    return p


def _config(p: dict, shape: tuple[int, int, int], quality: float, keys: int) -> _Config:
    step = p["q_max"] * (p["q_min"] / p["q_max"]) ** quality

    def q16(x: float) -> int:
        return min(65535, max(1, round(x * 16)))

    return _Config(
        frames=shape[0],
        height=shape[1],
        width=shape[2],
        block=p["block_size"],
        tsize=p["transform_size"],
        search=p["search_range"],
        subpel=p["subpel"],
        interp=_INTERP.index(p["interp"]),
        obmc=p["obmc"],
        refs=p["refs"],
        bframes=p["bframes"],
        q16_key_y=q16(step * p["key_q_scale"]),
        q16_key_c=q16(step * p["key_q_scale"] * p["chroma_q_scale"]),
        q16_p_y=q16(step),
        q16_p_c=q16(step * p["chroma_q_scale"]),
        b_scale64=round(p["b_q_scale"] * 64),
        weight64=round(p["freq_weight"] * 64),
        loop_filter=int(p["loop_filter"]),
        lf_alpha32=round(p["lf_alpha"] * 32),
        lf_beta32=round(p["lf_beta"] * 32),
        lf_tc32=round(p["lf_tc"] * 32),
        arith_shift=p["arith_shift"],
        partitions=int(p["partitions"]),
        tsplit=int(p["transform_split"] and p["transform_size"] >= 8),
        aq=int(p["aq_strength"] > 0),
        keys=keys,
    )


def _pack_header(cfg: _Config, keys: list[int]) -> bytes:
    return _HEADER.pack(MAGIC, VERSION, *astuple(cfg)) + struct.pack(f"<{len(keys)}I", *keys)


def _unpack_header(data: bytes) -> tuple[_Config, list[int]]:
    """The header's settings and the key frames' indices; ValueError when they are not a valid stream's."""
    if len(data) < _HEADER.size:
        raise ValueError(f"hybrid: bitstream of {len(data)} bytes is shorter than its header")
    magic, version, *fields = _HEADER.unpack_from(data, 0)
    if magic != MAGIC or version != VERSION:
        raise ValueError(f"hybrid: not a hybrid bitstream (magic {magic!r}, version {version})")
    cfg = _Config(*fields)
    ok = (
        cfg.frames > 0
        and cfg.height > 0
        and cfg.width > 0
        and cfg.height % 2 == 0
        and cfg.width % 2 == 0
        and cfg.block in (8, 16, 32)
        and cfg.tsize in (4, 8, 16)
        and cfg.block % (2 * cfg.tsize) == 0
        and 1 <= cfg.search <= 64
        and cfg.subpel in (1, 2, 4)
        and cfg.interp < len(_INTERP)
        and cfg.obmc <= 8
        and 1 <= cfg.refs <= 4
        and cfg.bframes <= 15
        and min(cfg.q16_key_y, cfg.q16_key_c, cfg.q16_p_y, cfg.q16_p_c) >= 1
        and 32 <= cfg.b_scale64 <= 128
        and cfg.weight64 <= 192
        and cfg.loop_filter in (0, 1)
        and 3 <= cfg.arith_shift <= 7
        and cfg.partitions in (0, 1)
        and cfg.tsplit in (0, 1)
        and (cfg.tsplit == 0 or cfg.tsize >= 8)
        and cfg.aq in (0, 1)
        and 1 <= cfg.keys <= cfg.frames
    )
    if not ok:
        raise ValueError(f"hybrid: header holds invalid values {cfg}")
    end = _HEADER.size + 4 * cfg.keys
    if len(data) < end:
        raise ValueError("hybrid: bitstream is truncated inside its key-frame list")
    keys = list(struct.unpack_from(f"<{cfg.keys}I", data, _HEADER.size))
    if keys[0] != 0 or any(b <= a for a, b in itertools.pairwise(keys)) or keys[-1] >= cfg.frames:
        raise ValueError(f"hybrid: key-frame list {keys[:8]}... is not increasing from frame 0 within the clip")
    return cfg, keys


# ----------------------------------------------------------------------------------------------
# transform and quantisation


@functools.cache
def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix [n, n] (cached, read-only)."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    m.setflags(write=False)
    return m


@functools.cache
def _int_dct_matrix(n: int) -> np.ndarray:
    """The DCT matrix in fixed point (_DCT_BITS), int64 (cached, read-only), for the exact inverse."""
    m = np.rint(_dct_matrix(n) * (1 << _DCT_BITS)).astype(np.int64)
    m.setflags(write=False)
    return m


def _zigzag(n: int) -> np.ndarray:
    cells = sorted(((r, c) for r in range(n) for c in range(n)), key=lambda p: (p[0] + p[1], p[1] if (p[0] + p[1]) % 2 == 0 else p[0]))
    return np.array([r * n + c for r, c in cells])


def _weights(cfg: _Config) -> np.ndarray:
    """Integer frequency weights in 1/16 units, [ts*ts] in natural order (16 = flat)."""
    n = cfg.tsize
    s = np.add.outer(np.arange(n), np.arange(n)).ravel()
    return 16 + (cfg.weight64 * s * 16) // (64 * 2 * (n - 1))


def _steps(cfg: _Config, q16, lead: int = 1) -> np.ndarray:
    """Quantisation step per coefficient (natural order), float, for the encoder: [ts*ts] for one q16, or for a
    q16 per macroblock [N] (adaptive quantisation) [N, 1 (`lead` times), ts*ts], to broadcast over its blocks."""
    if np.ndim(q16) == 0:
        return q16 * _weights(cfg) / 256.0
    return (q16[:, None] * _weights(cfg) / 256.0).reshape(len(q16), *(1,) * lead, -1)


def _per_mb(value, lead: int = 1):
    """A frame's scalar as it is, or a value per macroblock [N] as [N, 1 (`lead` times)], to broadcast over its blocks."""
    return value if np.ndim(value) == 0 else value.reshape(len(value), *(1,) * lead)


def _mb_q16(q16: int, dq: np.ndarray) -> np.ndarray:
    """Each macroblock's q16 [N] from the frame's and the macroblocks' step offsets `dq` [rows, cols]."""
    return np.clip((q16 * _DQ_SCALE[dq.reshape(-1) + _DQ_MAX] + (1 << 15)) >> 16, 1, 65535)


def _pick(value, index):
    """A frame's scalar (q16, lam) as it is, or of the blocks `index` from one per block."""
    return value if np.ndim(value) == 0 else value[index]


def _forward(blocks: np.ndarray, ts: int) -> np.ndarray:
    """Orthonormal 2-D DCT of [..., ts, ts] float blocks, flattened to [..., ts*ts]."""
    d = _dct_matrix(ts)
    return (d @ blocks @ d.T).reshape(*blocks.shape[:-2], ts * ts)


def _quantise(coef: np.ndarray, steps: np.ndarray, rounding: float) -> np.ndarray:
    """Dead-zone quantisation: sign(c) * floor(|c| / step + rounding), as one truncation toward zero."""
    scaled = coef / steps
    scaled += np.copysign(rounding, scaled)
    return np.trunc(scaled, out=scaled).astype(np.int64)


def _inverse(levels: np.ndarray, cfg: _Config, q16) -> np.ndarray:
    """Integer-exact dequantisation and inverse DCT of [N, ts*ts] levels -> [N, ts, ts] int residuals
    (`q16`: one for all, or one per block [N])."""
    ts = cfg.tsize
    dint = _int_dct_matrix(ts)
    scale = q16 * _weights(cfg) if np.ndim(q16) == 0 else q16[:, None] * _weights(cfg)
    coef = (levels * scale).reshape(-1, ts, ts)
    shift = 8 + 2 * _DCT_BITS
    return (dint.T @ coef @ dint + (1 << (shift - 1))) >> shift


@functools.cache
def _scan_rank(n: int) -> np.ndarray:
    """Each coefficient's index in the zigzag scan of a block of n (n a square), cached read-only."""
    rank = np.argsort(_zigzag(round(n**0.5)))
    rank.setflags(write=False)
    return rank


def _scan_runs(rows: np.ndarray, cols: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nonzero levels given by block `rows` (ascending) and natural index `cols`: the permutation that
    puts each block's in scan order, and each coded block's first and last entry in that order."""
    order = np.argsort(rows * n + _scan_rank(n)[cols])
    ends = np.flatnonzero(np.diff(rows[order], append=-1))
    return order, np.concatenate([[0], ends[:-1] + 1]).astype(np.int64), ends


def _bit_estimate(levels: np.ndarray, per_nonzero: float) -> np.ndarray:
    """Estimated bits of each block of levels [..., n] (for decisions only): per nonzero level
    `per_nonzero` plus its magnitude's, and per zero ahead of the last nonzero its significance flag."""
    n = levels.shape[-1]
    flat = levels.reshape(-1, n)
    rows, cols = np.nonzero(flat)
    bits = np.bincount(rows, per_nonzero + _LEVEL_BITS * np.log2(np.abs(flat[rows, cols])), len(flat))
    last = np.full(len(flat), -1)
    if rows.size:
        np.maximum.at(last, rows, _scan_rank(n)[cols])
    zeros_ahead = last + 1 - np.bincount(rows, minlength=len(flat))
    return (bits + _ZERO_BITS * zeros_ahead).reshape(levels.shape[:-1])


def _rdoq(coef: np.ndarray, steps: np.ndarray, levels: np.ndarray, lam: float, per_nonzero: float) -> np.ndarray:
    """Each nonzero level or the next smaller magnitude, whichever costs less distortion + lam * bits
    (`levels` may change in place; use the returned array).

    A level of 1 that becomes 0 saves its own bits less a zero's significance flag, or, as the last
    nonzero of its block, also the flags of the zeros between it and the nonzero before it (that
    test repeats on the new last level, up to `_RDOQ_TAIL` times)."""
    n = levels.shape[-1]
    out = levels.reshape(-1, n)  # a view where the layout allows (then the levels change in place), else a copy
    rows, cols = np.nonzero(out)
    if rows.size == 0:
        return levels
    value = out[rows, cols]
    mag, step = np.abs(value), (steps[cols] if steps.ndim == 1 else steps[rows, cols])
    lam = lam if np.ndim(lam) == 0 else lam[rows]
    target, step2 = np.abs(coef.reshape(-1, n)[rows, cols]) / step, step * step
    saved = np.where(mag > 1, _LEVEL_BITS * np.log2(np.maximum(mag, 2) / np.maximum(mag - 1, 1)), per_nonzero - _ZERO_BITS)
    smaller = step2 * (2 * (target - mag) + 1) < lam * saved  # the distortion added by one step down is worth less than its bits
    out[rows[smaller], cols[smaller]] -= np.sign(value[smaller])
    kept = np.flatnonzero(mag > smaller)  # the levels still nonzero
    order, firsts, at_end = _scan_runs(rows[kept], cols[kept], n)
    kept = kept[order]
    rows, cols, target, step2 = rows[kept], cols[kept], target[kept], step2[kept]
    lam = lam if np.ndim(lam) == 0 else lam[kept]
    mag, scan = mag[kept] - smaller[kept], _scan_rank(n)[cols]
    for _ in range(_RDOQ_TAIL):
        last = scan[at_end]
        before = np.where(at_end > firsts, scan[at_end - 1], -1)
        gain = (2 * target[at_end] - 1) * step2[at_end]
        drop = (mag[at_end] == 1) & (gain < (lam if np.ndim(lam) == 0 else lam[at_end]) * (per_nonzero + _ZERO_BITS * (last - before - 1)))
        out[rows[at_end[drop]], cols[at_end[drop]]] = 0
        more = drop & (at_end > firsts)
        if not more.any():
            break
        firsts, at_end = firsts[more], at_end[more] - 1
    return out.reshape(levels.shape)


def _code_blocks(coef: np.ndarray, steps: np.ndarray, rounding: float, lam, per_nonzero: float, rdoq: bool):
    """Quantise [..., n] coefficients (RDOQ optional), zeroing blocks not worth their bits. `steps` is [n] or
    broadcasts to the coefficients' shape, `lam` a scalar or broadcasts to the blocks' (adaptive quantisation).

    Returns (levels, distortion per block, estimated bits per block). A block that quantises to
    zeros costs its energy and one bit; only the others go through RDOQ and the rate model.
    """
    n = coef.shape[-1]
    levels = _quantise(coef, steps, rounding)
    dropped = np.einsum("...i,...i->...", coef, coef)
    dist, bits = dropped.copy(), np.ones(dropped.shape)
    flat_levels = levels.reshape(-1, n)  # a view: `_quantise` returns a fresh contiguous array
    coded = np.flatnonzero(flat_levels.any(-1))
    if coded.size:
        sub_coef, sub = coef.reshape(-1, n)[coded], flat_levels[coded]
        if steps.ndim > 1:
            steps = np.broadcast_to(steps, coef.shape).reshape(-1, n)[coded]
        if np.ndim(lam):
            lam = np.broadcast_to(lam, coef.shape[:-1]).reshape(-1)[coded]
        if rdoq:
            sub = _rdoq(sub_coef, steps, sub, lam, per_nonzero)
        error = sub_coef - sub * steps
        kept = np.einsum("...i,...i->...", error, error)
        sub_bits = _bit_estimate(sub, per_nonzero) + 1.0
        energy = dropped.reshape(-1)[coded]
        drop = energy <= kept + lam * sub_bits
        sub[drop] = 0
        flat_levels[coded] = sub
        dist.reshape(-1)[coded] = np.where(drop, energy, kept)
        bits.reshape(-1)[coded] = np.where(drop, 1.0, sub_bits)
    return levels, dist, bits


# ----------------------------------------------------------------------------------------------
# block layout: planes <-> macroblock-major transform blocks


def _to_tblocks(plane: np.ndarray, mb: int, ts: int) -> np.ndarray:
    """[H, W] plane (whole macroblocks) -> [nMB, (mb/ts)^2, ts, ts] in raster order at both levels."""
    h, w = plane.shape
    k = mb // ts
    return plane.reshape(h // mb, k, ts, w // mb, k, ts).transpose(0, 3, 1, 4, 2, 5).reshape(-1, k * k, ts, ts)


def _from_tblocks(blocks: np.ndarray, rows: int, cols: int, mb: int, ts: int) -> np.ndarray:
    k = mb // ts
    return blocks.reshape(rows, cols, k, k, ts, ts).transpose(0, 2, 4, 1, 3, 5).reshape(rows * mb, cols * mb)


# ----------------------------------------------------------------------------------------------
# motion compensation


def _luma_phases(ref: np.ndarray, subpel: int, interp: int) -> np.ndarray:
    """All sub-pel phases of a padded luma reference, interleaved: uint8 [H*subpel, W*subpel] holding
    the sample at (y + fy/subpel, x + fx/subpel) at [y*subpel + fy, x*subpel + fx], so a position
    in 1/subpel pel is a plain index (every phase lies in 0..255: a quarter of the memory traffic of int32)."""
    if subpel == 1:
        return np.ascontiguousarray(ref, np.uint8)
    r = ref.astype(np.int32)
    h, w = r.shape
    if _INTERP[interp] == "bilinear":
        e = np.pad(r, ((0, 1), (0, 1)), mode="edge")
        a, b, c, d = e[:-1, :-1], e[:-1, 1:], e[1:, :-1], e[1:, 1:]
        s2 = subpel * subpel
        out = np.empty((h * subpel, w * subpel), np.uint8)
        for fy in range(subpel):
            for fx in range(subpel):
                acc = (subpel - fx) * (subpel - fy) * a + fx * (subpel - fy) * b + (subpel - fx) * fy * c + fx * fy * d
                out[fy::subpel, fx::subpel] = (acc + s2 // 2) // s2
        return out
    e = np.pad(r, 3, mode="edge")
    # unnormalised half-pel sums: horizontal at (y, x + 1/2) and vertical at (y + 1/2, x)
    hs = sum(t * e[:, 1 + i : 1 + i + w] for i, t in enumerate(_SIXTAP))  # [h + 6, w]
    vs = sum(t * e[1 + i : 1 + i + h, 3 : 3 + w] for i, t in enumerate(_SIXTAP))
    js = sum(t * hs[1 + i : 1 + i + h] for i, t in enumerate(_SIXTAP))
    half = _interleave(ref, np.clip((hs[3 : 3 + h] + 16) >> 5, 0, 255), np.clip((vs + 16) >> 5, 0, 255), np.clip((js + 512) >> 10, 0, 255))
    if subpel == 2:
        return half
    # quarter pel: the sample at half-pel (i, j) and the means of it and its right and lower neighbours;
    # on the diagonal, of the two half-pel corners that are neither integer nor centre (by the parity of i + j)
    e = np.pad(half, ((0, 1), (0, 1)), mode="edge")
    a, right, down, diagonal = e[:-1, :-1], e[:-1, 1:], e[1:, :-1], e[1:, 1:]
    cross = _mean_up(right, down)
    cross[0::2, 1::2] = _mean_up(a[0::2, 1::2], diagonal[0::2, 1::2])
    cross[1::2, 0::2] = _mean_up(a[1::2, 0::2], diagonal[1::2, 0::2])
    return _interleave(half, _mean_up(a, right), _mean_up(a, down), cross)


def _mean_up(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(x + y + 1) >> 1 of uint8 arrays without widening: (x | y) - ((x ^ y) >> 1)."""
    return (x | y) - ((x ^ y) >> 1)


def _interleave(at: np.ndarray, right: np.ndarray, down: np.ndarray, across: np.ndarray) -> np.ndarray:
    """Four [h, w] planes with values 0..255 -> uint8 [2h, 2w] holding at[y, x] at [2y, 2x], right at [2y, 2x + 1],
    down at [2y + 1, 2x] and across at [2y + 1, 2x + 1] (OpenCV's channel merge interleaves the columns)."""
    h, w = at.shape
    rows = [cv2.merge([np.ascontiguousarray(p, np.uint8) for p in pair]).reshape(h, 2 * w) for pair in ((at, right), (down, across))]
    return np.stack(rows, 1).reshape(2 * h, 2 * w)


def _luma_index(phases: np.ndarray, cfg: _Config, ys: np.ndarray, xs: np.ndarray, mvy: np.ndarray, mvx: np.ndarray) -> np.ndarray:
    """Flat indices into the interleaved phases of frame coordinates (ys, xs) displaced by (mvy, mvx) in 1/subpel pel."""
    s = cfg.subpel
    dtype = np.int32 if phases.size < 1 << 31 else np.int64  # int32 coordinates where they fit: half the traffic
    py = ((ys + cfg.pad) * s + mvy).astype(dtype, copy=False)
    px = ((xs + cfg.pad) * s + mvx).astype(dtype, copy=False)
    return py * phases.shape[1] + px


def _chroma_phases(ref: np.ndarray, subpel: int) -> np.ndarray:
    """Bilinear phases of both padded chroma planes [2, Hc, Wc], interleaved like `_luma_phases`: uint8
    [2, Hc*d, Wc*d] (d = 2*subpel) holding the sample at (y + fy/d, x + fx/d) at [y*d + fy, x*d + fx]; a
    luma vector in 1/subpel pel is the same number in 1/d chroma pel. The last row and column's
    neighbours beyond the plane repeat it (no vector within the search range reaches them).
    Each weighted sum (d - f) * a + f * b is built as d * a + f * (b - a), one phase from the last by an add."""
    d = 2 * subpel
    shift = d.bit_length() - 1
    two, hc, wc = ref.shape
    e = np.pad(ref.astype(np.int16), ((0, 0), (0, 1), (0, 1)), mode="edge")  # int16 sums: at most d*d*255
    f = np.arange(d, dtype=np.int16)
    across = d * e[:, :, :-1, None] + (e[:, :, 1:] - e[:, :, :-1])[..., None] * f  # [2, hc + 1, wc, d]: every fx
    down = across[:, 1:] - across[:, :-1]
    acc = d * across[:, :-1] + d * d // 2
    out = np.empty((two, hc, d, wc, d), np.uint8)
    for fy in range(d):
        np.right_shift(acc, 2 * shift, out=out[:, :, fy], casting="unsafe")
        acc += down
    return out.reshape(two, hc * d, wc * d)


def _phase_blocks(phases: np.ndarray, step: int, pad: int, y0: np.ndarray, x0: np.ndarray, mvy: np.ndarray, mvx: np.ndarray, h: int, w: int) -> np.ndarray:
    """Predictions [..., n, h, w] of the h x w blocks at pixels (y0, x0) [n] of a plane padded by `pad`, each
    displaced by its own vector (mvy, mvx) [n] in 1/step pel: strided copies out of its interleaved phases
    [..., H*step, W*step] (`_luma_phases`, `_chroma_phases`)."""
    src = np.ascontiguousarray(phases)
    *lead, height, width = src.shape
    sy, sx = src.strides[-2:]
    # every h x w window of every step-th sample, as a view [..., Y, X, h, w] (the constructor: far less overhead than stride_tricks)
    windows = np.ndarray((*lead, height - (h - 1) * step, width - (w - 1) * step, h, w), src.dtype, src,
                         strides=(*src.strides[:-2], sy, sx, sy * step, sx * step))
    return windows[..., (y0 + pad) * step + mvy, (x0 + pad) * step + mvx, :, :]


@dataclass
class _Reference:
    """A decoded frame ready to predict from."""

    padded: np.ndarray  # uint8 luma padded by the search margin, for the integer search
    phases: np.ndarray  # uint8 luma sub-pel phases of the padded frame, interleaved (`_luma_phases`)
    chroma: np.ndarray  # uint8 chroma phases of both planes padded by pad/2, interleaved (`_chroma_phases`)


def _reference(y: np.ndarray, uv: np.ndarray, cfg: _Config) -> _Reference:
    padc = cfg.pad // 2
    padded = np.pad(y, cfg.pad, mode="edge")
    return _Reference(
        padded=padded,
        phases=_luma_phases(padded, cfg.subpel, cfg.interp),
        chroma=_chroma_phases(np.pad(uv, ((0, 0), (padc, padc), (padc, padc)), mode="edge"), cfg.subpel),
    )


def _spread(a: np.ndarray, size: int) -> np.ndarray:
    """Per-block values [rows, cols, ...] -> per-pixel [rows*size, cols*size, ...]."""
    return np.repeat(np.repeat(a, size, 0), size, 1)


def _plain_predict(ref: _Reference, cfg: _Config, mv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Block motion compensation: luma [Hp, Wp] and chroma [2, Hp/2, Wp/2] for macroblock vectors."""
    return _predict(ref, replace(cfg, obmc=0), mv, np.ones(mv.shape[:2], bool))


def _obmc_ramp(size: int, edge_weight: int) -> np.ndarray:
    """Weight (1/16) of the nearer neighbour's prediction across a block: edge_weight at the edge, 0 past a quarter."""
    i = np.arange(size)
    d = np.minimum(i, size - 1 - i)
    reach = max(1, size // 4)
    return np.maximum(0, (reach - d) * edge_weight // reach)


def _predict(ref: _Reference, cfg: _Config, mv: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Motion-compensated luma and chroma; with OBMC, blended with the predictions of the nearer
    horizontal and vertical neighbours' vectors (blocks not `usable` lend their own vector)."""
    rows, cols = usable.shape
    luma, chroma = _predict_blocks(ref, cfg, mv, usable, np.arange(rows * cols))
    b, bc = cfg.block, cfg.block // 2
    return (luma.reshape(rows, cols, b, b).swapaxes(1, 2).reshape(rows * b, cols * b),
            chroma.reshape(2, rows, cols, bc, bc).swapaxes(2, 3).reshape(2, rows * bc, cols * bc))


def _predict_blocks(ref: _Reference, cfg: _Config, mv: np.ndarray, usable: np.ndarray, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`_predict` of only the blocks `chosen` (raster indices): luma [n, b, b] and chroma [2, n, b/2, b/2]."""
    rows, cols = usable.shape
    vectors = mv.reshape(-1, 2).astype(np.int32)
    own_mv = vectors[chosen]
    if cfg.obmc:  # each side's neighbour vector: its own where that neighbour lies outside the frame or is not usable
        r, c = chosen // cols, chosen % cols
        side = {}  # per side: the blocks whose neighbour there has another vector, and those vectors
        for name, nr, nc in (("l", r, c - 1), ("r", r, c + 1), ("t", r - 1, c), ("b", r + 1, c)):
            at = np.where((nr >= 0) & (nr < rows) & (nc >= 0) & (nc < cols), nr * cols + nc, chosen)
            vector = np.where(((at != chosen) & usable.reshape(-1)[at])[:, None], vectors[at], own_mv)
            other = np.flatnonzero((vector != own_mv).any(1))
            side[name] = other, vector[other]
    out = []
    for plane, scale in ((0, 1), (1, 2)):
        b = cfg.block // scale
        source, step, pad = (ref.phases, cfg.subpel, cfg.pad) if plane == 0 else (ref.chroma, 2 * cfg.subpel, cfg.pad // 2)
        y0, x0 = ((chosen // cols) * b).astype(np.int32), ((chosen % cols) * b).astype(np.int32)
        own = _phase_blocks(source, step, pad, y0, x0, own_mv[:, 0], own_mv[:, 1], b, b)
        if cfg.obmc == 0:
            out.append(own.astype(np.int32))
            continue
        ramp = _obmc_ramp(b, cfg.obmc).astype(np.int32)  # the blend stays within int32
        # the weights of a pixel sum to 16: (16 - ramp_x - ramp_y) * own + ramp_x * side + ramp_y * side equals
        # 16 * own plus each side's weight times its difference from own, zero where it has the block's own vector
        acc = own.astype(np.int32) * 16 + 8
        # a neighbour's prediction only where its weight is not zero: the m rows or columns next to its edge
        m = np.count_nonzero(ramp) // 2
        for name, dy, dx, h, w in (("l", 0, 0, b, m), ("r", 0, b - m, b, m), ("t", 0, 0, m, b), ("b", b - m, 0, m, b)):
            other, f = side[name]
            if other.size == 0:
                continue
            strip = _phase_blocks(source, step, pad, y0[other] + dy, x0[other] + dx, f[:, 0], f[:, 1], h, w).astype(np.int32)
            weight = ramp[dx : dx + w] if h == b else ramp[dy : dy + h, None]
            region = (..., other, slice(dy, dy + h), slice(dx, dx + w))
            acc[region] += weight * (strip - own[region])
        out.append(acc >> 4)
    return out[0], out[1]


def _median_predictor(mv: list, rows: int, cols: int, r: int, c: int, refs: list, ref: int) -> tuple[int, int]:
    """Median of the left, top and top-right (else top-left) vectors; the left one on the top row. A
    neighbour that does not predict in this direction (None: intra, or the other direction only) counts
    as zero; when just one of the three predicts from the same reference (`refs`: the grid of reference
    indices) as this block (`ref`), its vector is the predictor."""
    left = mv[r][c - 1] if c > 0 else None
    if r == 0:
        return left or (0, 0)
    above, refs_above = mv[r - 1], refs[r - 1]
    cc = c + 1 if c + 1 < cols else c - 1
    top, corner = above[c], (above[cc] if cc >= 0 else None)
    same, count = None, 0
    if left is not None and refs[r][c - 1] == ref:
        same, count = left, 1
    if top is not None and refs_above[c] == ref:
        same, count = top, count + 1
    if corner is not None and refs_above[cc] == ref:
        same, count = corner, count + 1
    if count == 1:
        return tuple(same)
    ly, lx = left if left is not None else (0, 0)
    ty, tx = top if top is not None else (0, 0)
    cy, cx = corner if corner is not None else (0, 0)
    return _median3(ly, ty, cy), _median3(lx, tx, cx)


def _median3(a: int, b: int, c: int) -> int:
    """The middle one of three numbers."""
    if a > b:
        a, b = b, a
    return a if c < a else (b if c > b else c)


def _skip_directions(fields: list, cols: int, r: int, c: int) -> int:
    """A B skip's directions (bit 0 past, bit 1 future): those that any of the left, top and top-right
    (else top-left) neighbours predicts in (`fields`: per direction, the vectors or None); both when none does."""
    d = 0
    for x, field in enumerate(fields):
        if c > 0 and field[r][c - 1] is not None:
            d |= 1 << x
        elif r > 0:
            above = field[r - 1]
            cc = c + 1 if c + 1 < cols else c - 1
            if above[c] is not None or (cc >= 0 and above[cc] is not None):
                d |= 1 << x
    return d or 3


def _mv_bits(d: np.ndarray) -> np.ndarray:
    """Rough bits of a vector component difference (Exp-Golomb-like)."""
    return 1.0 + 2.0 * np.log2(1.0 + np.abs(d))


# ----------------------------------------------------------------------------------------------
# loop filter


def _filter_edges(plane: np.ndarray, strength: np.ndarray, ts: int, alpha: int, beta: int, tc: int) -> None:
    """Filter the vertical edges of an int32 plane in place; `strength` [rows/ts, cols/ts - 1]."""
    if alpha == 0 or strength.size == 0:
        return
    x = np.arange(ts, plane.shape[1], ts)
    p1, p0, q0, q1 = plane[:, x - 2], plane[:, x - 1], plane[:, x], plane[:, x + 1]
    bs = np.repeat(strength, ts, 0)
    on = (bs > 0) & (np.abs(p0 - q0) < alpha) & (np.abs(p1 - p0) < beta) & (np.abs(q1 - q0) < beta)
    limit = tc * bs
    delta = np.clip(((q0 - p0) * 4 + (p1 - q1) + 4) >> 3, -limit, limit) * on
    plane[:, x - 1] = np.clip(p0 + delta, 0, 255)
    plane[:, x] = np.clip(q0 - delta, 0, 255)


def _strengths(intra: np.ndarray, coded: np.ndarray, mvs: np.ndarray, mb_of: np.ndarray, subpel: int) -> np.ndarray:
    """Edge strengths between horizontally adjacent transform blocks: 2 intra, 1 coded or moved, 0 none.

    All inputs are per transform block [rows, cols]; `mvs` is [rows, cols, 2].
    """
    a, b = np.s_[:, :-1], np.s_[:, 1:]
    moved = (np.abs(mvs[a] - mvs[b]) >= subpel).any(-1) & (mb_of[a] != mb_of[b])
    return np.where(intra[a] | intra[b], 2, np.where(coded[a] | coded[b] | moved, 1, 0))


def _deblock(plane: np.ndarray, cfg: _Config, q16: int, intra: np.ndarray, coded: np.ndarray, mvs: np.ndarray, mb_of: np.ndarray) -> None:
    """Deblock an int32 plane in place: vertical edges, then horizontal edges."""
    alpha = (cfg.lf_alpha32 * q16) >> 9
    beta = (cfg.lf_beta32 * q16) >> 9
    tc = max(1, (cfg.lf_tc32 * q16) >> 9)
    ts = cfg.tsize
    _filter_edges(plane, _strengths(intra, coded, mvs, mb_of, cfg.subpel), ts, alpha, beta, tc)
    strength_h = _strengths(intra.T, coded.T, mvs.swapaxes(0, 1), mb_of.T, cfg.subpel)
    _filter_edges(plane.T, strength_h, ts, alpha, beta, tc)


# ----------------------------------------------------------------------------------------------
# group of pictures: key frames, coding order, references


@dataclass(frozen=True)
class _Coded:
    """One frame's place in the coding order: display index, type, B level and its references' display indices."""

    display: int
    kind: int
    depth: int
    l0: tuple[int, ...]
    l1: tuple[int, ...]


def _plan(frames: int, keys: list[int], bframes: int, refs: int) -> list[_Coded]:
    """The coding order of a clip, shared by encoder and decoder.

    Each key frame, then anchors every bframes + 1 frames (P, predicted from the `refs` latest
    anchors since the key frame, nearest first); after each anchor the B frames between it and the
    previous anchor, by bisection: the middle one (from the nearest decoded frames on either
    side), then each half one level deeper.
    """
    order: list[_Coded] = []
    bounds = [*keys, frames]
    for start, end in itertools.pairwise(bounds):
        order.append(_Coded(start, _I, 0, (), ()))
        anchors, decoded = [start], [start]
        last = start
        while last < end - 1:
            anchor = min(last + bframes + 1, end - 1)
            order.append(_Coded(anchor, _P, 0, tuple(anchors[::-1][:refs]), ()))
            anchors.append(anchor)
            decoded.append(anchor)
            _bisect(last, anchor, 1, decoded, order)
            last = anchor
    return order


def _bisect(a: int, b: int, depth: int, decoded: list[int], order: list[_Coded]) -> None:
    if b - a < 2:
        return
    m = (a + b) // 2
    past = max(d for d in decoded if d < m)
    future = min(d for d in decoded if d > m)
    order.append(_Coded(m, _B, depth, (past,), (future,)))
    decoded.append(m)
    _bisect(a, m, depth + 1, decoded, order)
    _bisect(m, b, depth + 1, decoded, order)


def _last_use(plan: list[_Coded]) -> dict[int, int]:
    """For each referenced frame (display index), the position in the coding order of its last use."""
    last = {}
    for i, coded in enumerate(plan):
        for d in coded.l0 + coded.l1:
            last[d] = i
    return last


def _frame_q(cfg: _Config, kind: int, depth: int) -> tuple[int, int]:
    """Luma and chroma steps (1/16) of a frame: key, P, or B at `depth` (each level b_scale coarser)."""
    if kind == _I:
        return cfg.q16_key_y, cfg.q16_key_c
    qy, qc = cfg.q16_p_y, cfg.q16_p_c
    for _ in range(depth):
        qy = min(65535, max(1, (qy * cfg.b_scale64 + 32) >> 6))
        qc = min(65535, max(1, (qc * cfg.b_scale64 + 32) >> 6))
    return qy, qc


def _mb_q(cfg: _Config, frame: "_Frame") -> tuple:
    """The luma and chroma q16 the frame's residuals are dequantised with: the frame's two, or with adaptive
    quantisation one per macroblock [nMB] each."""
    qy, qc = _frame_q(cfg, frame.kind, frame.depth)
    return (_mb_q16(qy, frame.dq), _mb_q16(qc, frame.dq)) if cfg.aq else (qy, qc)


def _key_frames(y: np.ndarray, key_interval: int, scenecut: float) -> list[int]:
    """Frame 0, each frame `key_interval` after the previous key frame, and scene cuts (encoder only)."""
    t, h, w = y.shape
    small = [cv2.resize(f, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA).astype(np.float32) for f in y]
    keys = [0]
    for i in range(1, t):
        if i - keys[-1] >= key_interval or (scenecut > 0 and _cut_score(small[i - 1], small[i]) > scenecut):
            keys.append(i)
    return keys


def _cut_score(prev: np.ndarray, cur: np.ndarray, block: int = 8, reach: int = 4) -> float:
    """Sum over 8x8 blocks of the best-shift absolute difference from `prev`, over `cur`'s own texture."""
    hb, wb = (cur.shape[0] // block) * block, (cur.shape[1] // block) * block
    if hb == 0 or wb == 0:
        return 0.0
    cur = cur[:hb, :wb]
    padded = np.pad(prev, reach, mode="edge")
    n = 2 * reach + 1
    best = None
    if _small_whole(cur, block) and _small_whole(padded, block):
        # whole numbers: every block sum is exact in any order, so a row of shifts is summed at once by two matrix products
        dtype = np.result_type(cur, padded)
        rows = (np.arange(hb // block)[:, None] == np.arange(hb)[None] // block).astype(dtype)
        cols = (np.arange(wb)[:, None] // block == np.arange(wb // block)[None]).astype(dtype)
        for dy in range(n):
            shifted = np.lib.stride_tricks.sliding_window_view(padded[dy : dy + hb], wb, axis=1)[:, :n].transpose(1, 0, 2)
            sad = (rows @ np.abs(cur - shifted) @ cols).min(0)
            best = sad if best is None else np.minimum(best, sad)
    else:
        for dy in range(n):
            for dx in range(n):
                sad = _block_sum(np.abs(cur - padded[dy : dy + hb, dx : dx + wb]), block)
                best = sad if best is None else np.minimum(best, sad)
    blocks = cur.reshape(hb // block, block, wb // block, block)
    texture = np.abs(blocks - blocks.mean((1, 3), keepdims=True)).sum()
    return float(best.sum() / max(texture, 1.0))


def _small_whole(plane: np.ndarray, block: int) -> bool:
    """Whether a float plane holds whole numbers small enough that sums of block*block of their differences are exact."""
    return bool(plane.size == 0 or (np.abs(plane).max() < (1 << 23) // (block * block) and (plane == np.round(plane)).all()))


# ----------------------------------------------------------------------------------------------
# intra prediction (shared by encoder and decoder)


def _neighbour_index(r0: np.ndarray, c0: np.ndarray, n: int, top_right: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Where the reconstructed neighbours of the n x n blocks at (r0, c0) [B] lie, as flat indices [B, 3n + 1] into
    a plane of `shape` followed by one constant 128 (index h*w): the top row with top-right [:, :2n] (the last
    available sample repeated past the plane, or past the top row where `top_right` is not yet decoded), the left
    column [:, 2n:3n] and the corner [:, 3n]; a missing side is replaced by the other's nearest sample, both by 128."""
    h, w = shape
    has_top, has_left = (r0 > 0)[:, None], (c0 > 0)[:, None]
    above, beside = np.maximum(r0 - 1, 0)[:, None], np.maximum(c0 - 1, 0)[:, None]
    last = np.minimum(w, c0 + np.where(top_right, 2 * n, n))[:, None] - 1
    top = above * w + np.minimum(c0[:, None] + np.arange(2 * n), last)
    left = (r0[:, None] + np.arange(n)) * w + beside
    fill = np.where(has_top, top[:, :1], np.where(has_left, left[:, :1], h * w))  # a missing side's stand-in
    corner = np.where(has_top & has_left, above * w + beside, fill)
    return np.concatenate([np.where(has_top, top, fill), np.where(has_left, left, fill), corner], 1)


def _split_neighbours(samples: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The samples at `_neighbour_index` [B, 3n + 1] as (top rows with top-right [B, 2n], left columns [B, n], corners [B])."""
    return samples[:, : 2 * n], samples[:, 2 * n : 3 * n], samples[:, 3 * n]


def _intra_predictions(top: np.ndarray, left: np.ndarray, corner: np.ndarray, n: int, modes: tuple[int, ...]) -> np.ndarray:
    """The predictions of B n x n blocks (neighbours as `_split_neighbours` gives them) in the given intra
    modes, int64 [B, len(modes), n, n]. Modes: 0 DC, 1 vertical, 2 horizontal, 3 planar, 4 diagonal
    down-left, 5 diagonal down-right (the diagonals: the 1-2-1 smoothed edge, gathered along each diagonal)."""
    shift = n.bit_length() - 1
    t = top[:, :n]
    x = np.arange(n)
    out = np.empty((top.shape[0], len(modes), n, n), np.int64)
    for i, mode in enumerate(modes):
        if mode == 0:
            out[:, i] = ((t.sum(1) + left.sum(1) + n) >> (shift + 1))[:, None, None]
        elif mode == 1:
            out[:, i] = t[:, None, :]
        elif mode == 2:
            out[:, i] = left[:, :, None]
        elif mode == 3:
            out[:, i] = ((n - 1 - x) * left[:, :, None] + (x + 1) * top[:, n, None, None]
                         + (n - 1 - x)[:, None] * t[:, None, :] + (x + 1)[:, None] * left[:, n - 1, None, None] + n) >> (shift + 1)
        else:
            if mode == 4:  # the top row with top-right, its last sample repeated; sample (y, x) reads edge x + y
                edge = np.concatenate([top, top[:, -1:]], 1)
                at = x[:, None] + x[None, :]
            else:  # the left column bottom up, the corner, then the top row; sample (y, x) reads edge n + x - y
                edge = np.concatenate([left[:, -1:], left[:, ::-1], corner[:, None], top[:, : n + 1]], 1)
                at = n + x[None, :] - x[:, None]
            smooth = edge[:, :-2] + 2 * edge[:, 1:-1] + edge[:, 2:] + 2
            out[:, i] = smooth[:, at] >> 2
    return out


def _stack_tblocks(blocks: np.ndarray, ts: int) -> np.ndarray:
    """[M, n, n] blocks -> [M, (n/ts)^2, ts, ts] transform blocks in raster order."""
    m, n, _ = blocks.shape
    return _to_tblocks(blocks.reshape(m * n, n), n, ts)


def _wavefronts(rows: np.ndarray, cols: np.ndarray, top_right: np.ndarray, shape: tuple[int, int]) -> list[np.ndarray]:
    """Indices of the intra blocks at (rows, cols) [B] (in decoding order, on a block grid of `shape`),
    grouped into waves to predict one after the other, each wave's blocks at once.

    A block reads its left, top, top-left and (where `top_right`) top-right neighbours, all decoded
    before it; its wave is one after the latest of theirs that is intra (the others are reconstructed
    before the pass), so every block sees exactly what decoding order would show it."""
    width = shape[1]
    wave = [[-1] * width for _ in range(shape[0])]
    waves = []
    for r, c, tr in zip(rows.tolist(), cols.tolist(), top_right.tolist()):
        latest = wave[r][c - 1] if c > 0 else -1
        if r > 0:
            above = wave[r - 1]
            latest = max(latest, above[c], above[c - 1] if c > 0 else -1, above[c + 1] if tr and c + 1 < width else -1)
        wave[r][c] = latest + 1
        waves.append(latest + 1)
    order = np.argsort(waves, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(np.array(waves)[order])) + 1)


def _block_pixels(r0: np.ndarray, c0: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays [B, n, n] of the n x n blocks at (r0, c0) [B]."""
    i = np.arange(n)
    return r0[:, None, None] + i[None, :, None], c0[:, None, None] + i[None, None, :]


def _flat_blocks(r0: np.ndarray, c0: np.ndarray, n: int, width: int) -> np.ndarray:
    """Flat indices [B, n, n] of the n x n blocks at (r0, c0) [B] in a plane `width` wide."""
    i = np.arange(n)
    return (r0[:, None, None] + i[None, :, None]) * width + c0[:, None, None] + i[None, None, :]


def _chosen(top: np.ndarray, left: np.ndarray, corner: np.ndarray, n: int, modes: np.ndarray) -> np.ndarray:
    """The prediction [B, n, n] of each block in its own mode `modes` [B]."""
    present = np.unique(modes)
    preds = _intra_predictions(top, left, corner, n, tuple(int(m) for m in present))
    return preds[np.arange(modes.size), np.searchsorted(present, modes)]


def _chroma_residual(levels: np.ndarray, cfg: _Config, q16) -> np.ndarray:
    """Inverse-transformed levels [M, kc*kc, ts*ts] of one chroma plane of M macroblocks -> residuals [M, b/2, b/2]."""
    h = cfg.block // 2
    each = q16 if np.ndim(q16) == 0 else np.repeat(q16, levels.shape[1])  # `q16` per macroblock: per block
    return _from_tblocks(_inverse(levels.reshape(-1, cfg.tsize**2), cfg, each), levels.shape[0], 1, h, cfg.tsize).reshape(-1, h, h)


def _intra_pass(y: np.ndarray, uv: np.ndarray, frame: "_Frame", cfg: _Config, qy, qc, chooser: "_IntraChooser | None" = None) -> None:
    """Predict and reconstruct the intra macroblocks of `frame` in place on the int32 planes (the
    inter ones already reconstructed), with the result of raster order, one wave (`_wavefronts`)
    at a time. Luma: each transform block with its own mode (in raster order within
    its macroblock); chroma: the mode of the macroblock's first luma block. `chooser` (encoder only)
    first sets each luma block's mode and levels, and the chroma levels from their prediction.
    The waves work on flat int64 copies of the planes (a constant 128 appended for missing neighbours)
    with precomputed gather and scatter indices; the decoder inverse-transforms every residual up front."""
    _, cols = cfg.grid
    b, h, ts = cfg.block, cfg.block // 2, cfg.tsize
    k = b // ts
    kc2 = frame.chroma.shape[1] // 2
    mr, mc = np.nonzero(frame.modes == _INTRA)
    if mr.size == 0:
        return
    jy, jx = np.divmod(np.arange(k * k), k)
    ty, tx = (mr[:, None] * k + jy).ravel(), (mc[:, None] * k + jx).ravel()
    mb, j = np.repeat(mr * cols + mc, k * k), np.tile(np.arange(k * k), mr.size)
    top_right = np.tile((jy == 0) | (jx < k - 1), mr.size)
    flat = np.append(y.ravel(), 128).astype(np.int64)
    around = _neighbour_index(ty * ts, tx * ts, ts, top_right, y.shape)
    inside = _flat_blocks(ty * ts, tx * ts, ts, y.shape[1])
    residual = _inverse(frame.luma[mb, j], cfg, _pick(qy, mb)) if chooser is None else None
    for group in _wavefronts(ty, tx, top_right, (frame.imodes.shape[0], frame.imodes.shape[1])):
        gy, gx, gm, gj = ty[group], tx[group], mb[group], j[group]
        neighbours = _split_neighbours(flat[around[group]], ts)
        if chooser is None:
            pred, res = _chosen(*neighbours, ts, frame.imodes[gy, gx]), residual[group]
        else:
            pred = chooser.luma(gm, gj, gy, gx, neighbours)
            res = _inverse(frame.luma[gm, gj], cfg, _pick(qy, gm))
        flat[inside[group]] = np.clip(pred + res, 0, 255)
    y[...] = flat[:-1].reshape(y.shape)
    first = frame.imodes[mr * k, mc * k]
    mbs = mr * cols + mc
    # both chroma planes in one flat copy (then the constant 128), each wave's U and V blocks at once
    size = uv[0].size
    flat = np.append(uv.ravel(), 128).astype(np.int64)
    around = _neighbour_index(mr * h, mc * h, h, np.ones(mr.size, bool), uv.shape[1:])
    around = np.stack([np.where(around == size, 2 * size, around + plane * size) for plane in (0, 1)])
    inside = _flat_blocks(mr * h, mc * h, h, uv.shape[2])
    inside = np.stack([inside, inside + size])
    residuals = np.stack([_chroma_residual(frame.chroma[mbs, i * kc2 : (i + 1) * kc2], cfg, _pick(qc, mbs)) for i in (0, 1)]) if chooser is None else None
    for group in _wavefronts(mr, mc, np.ones(mr.size, bool), frame.modes.shape):
        n = group.size
        neighbours = _split_neighbours(flat[around[:, group].reshape(2 * n, -1)], h)
        pred = _chosen(*neighbours, h, np.tile(first[group], 2)).reshape(2, n, h, h)
        if chooser is None:
            res = residuals[:, group]
        else:
            gm = mbs[group]
            chooser.chroma(gm, pred, _block_pixels(mr[group] * h, mc[group] * h, h))
            levels = frame.chroma[gm].reshape(n, 2, kc2, -1).swapaxes(0, 1).reshape(2 * n, kc2, -1)
            res = _chroma_residual(levels, cfg, _pick(qc, np.tile(gm, 2))).reshape(2, n, h, h)
        flat[inside[:, group]] = np.clip(pred + res, 0, 255)
    uv[...] = flat[:-1].reshape(uv.shape)


def _most_probable(imodes, modes, ty: int, tx: int, k: int) -> int:
    """The intra mode of a luma transform block predicted from the blocks left of and above it
    (DC where they lie in a macroblock that is not intra)."""
    left = imodes[ty][tx - 1] if tx > 0 and modes[ty // k][(tx - 1) // k] == _INTRA else 0
    top = imodes[ty - 1][tx] if ty > 0 and modes[(ty - 1) // k][tx // k] == _INTRA else 0
    return int(min(left, top))


def _most_probable_many(imodes: np.ndarray, modes: np.ndarray, ty: np.ndarray, tx: np.ndarray, k: int) -> np.ndarray:
    """`_most_probable` of the luma transform blocks at (ty, tx) [B] at once."""
    lx, uy = np.maximum(tx - 1, 0), np.maximum(ty - 1, 0)
    left = np.where((tx > 0) & (modes[ty // k, lx // k] == _INTRA), imodes[ty, lx], 0)
    top = np.where((ty > 0) & (modes[uy // k, tx // k] == _INTRA), imodes[uy, tx], 0)
    return np.minimum(left, top)


# ----------------------------------------------------------------------------------------------
# frame reconstruction (shared by encoder and decoder, so both hold the same reference)


@dataclass
class _Frame:
    """The decoded symbols of one frame."""

    kind: int  # _I, _P or _B
    depth: int  # B level (0 for I and P)
    modes: np.ndarray  # [rows, cols] of _SKIP / _INTER / _INTRA
    imodes: np.ndarray  # [rows*k, cols*k] intra prediction mode per luma transform block (intra macroblocks)
    dirs: np.ndarray  # [rows, cols] lists used: 1 past (L0), 2 future (L1), 3 both; 0 for intra
    refidx: np.ndarray  # [rows, cols] index into L0 (P frames)
    mv0: np.ndarray  # [rows, cols, 2] int64 L0 vectors in 1/subpel pel, zero where L0 is unused
    mv1: np.ndarray  # [rows, cols, 2] int64 L1 vectors
    luma: np.ndarray  # [nMB, k*k, ts*ts] int64 levels, natural order (small transforms: see `small`)
    chroma: np.ndarray  # [nMB, 2*kc*kc, ts*ts] int64 levels (U blocks then V blocks)
    split: np.ndarray  # [rows, cols] partition (see _CODED_SUBS); split ones use sub0/sub1, mv0/mv1 hold the last sub-block's
    sub0: np.ndarray  # [rows, cols, 4, 2] int64 L0 vectors of the sub-blocks (raster order) of split macroblocks
    sub1: np.ndarray  # [rows, cols, 4, 2] int64 L1 vectors
    small: np.ndarray  # [rows, cols] bool: luma in transforms of ts/2, luma[m, j] the four of block j's quadrants
    dq: np.ndarray  # [rows, cols] int64 step offset of each macroblock (adaptive quantisation; 0 without it)


def _empty_frame(cfg: _Config, kind: int, depth: int) -> _Frame:
    rows, cols = cfg.grid
    k2, kc2, n = (cfg.block // cfg.tsize) ** 2, 2 * (cfg.block // 2 // cfg.tsize) ** 2, cfg.tsize**2
    grid = np.zeros((rows, cols), np.int64)
    k = cfg.block // cfg.tsize
    return _Frame(kind, depth, grid + (_INTRA if kind == _I else _INTER), np.zeros((rows * k, cols * k), np.int64), grid + (0 if kind == _I else 1),
                  grid.copy(), np.zeros((rows, cols, 2), np.int64), np.zeros((rows, cols, 2), np.int64),
                  np.zeros((rows * cols, k2, n), np.int64), np.zeros((rows * cols, kc2, n), np.int64),
                  grid.copy(), np.zeros((rows, cols, 4, 2), np.int64), np.zeros((rows, cols, 4, 2), np.int64),
                  np.zeros((rows, cols), bool), grid.copy())


def _per_tblock(values: np.ndarray, rows: int, cols: int, k: int) -> np.ndarray:
    """Macroblock-major [nMB, k*k, ...] -> frame grid [rows*k, cols*k, ...]."""
    rest = values.shape[2:]
    return values.reshape(rows, cols, k, k, *rest).swapaxes(1, 2).reshape(rows * k, cols * k, *rest)


def _add_residual(pred: np.ndarray, levels: np.ndarray, cfg: _Config, q16, mb: int) -> np.ndarray:
    """pred [Hp, Wp] int + inverse-transformed levels [nMB, k*k, n] -> clipped int32 plane (`q16`: the frame's,
    or one per macroblock [nMB])."""
    ts = cfg.tsize
    rows, cols = pred.shape[0] // mb, pred.shape[1] // mb
    blocks = _to_tblocks(pred, mb, ts).astype(np.int64)
    coded = np.any(levels != 0, axis=-1)
    if coded.any():
        blocks[coded] += _inverse(levels[coded], cfg, q16 if np.ndim(q16) == 0 else q16[np.nonzero(coded)[0]])
    return np.clip(_from_tblocks(blocks, rows, cols, mb, ts), 0, 255).astype(np.int32)


def _inter_predict(frame: _Frame, l0: list[_Reference], l1: list[_Reference], cfg: _Config) -> tuple[np.ndarray, np.ndarray]:
    """Motion-compensated luma [Hp, Wp] and chroma [2, Hp/2, Wp/2] of the frame's inter macroblocks
    (zero elsewhere): per reference (P) or per direction, averaged where both are used (B)."""
    rows, cols = cfg.grid
    b = cfg.block
    luma = np.zeros((rows * b, cols * b), np.int32)
    chroma = np.zeros((2, rows * b // 2, cols * b // 2), np.int32)
    inter = frame.modes != _INTRA
    parts = []
    if frame.kind == _P:
        for i, ref in enumerate(l0):
            parts.append((inter & (frame.refidx == i), ref, frame.mv0, frame.sub0))
    else:
        parts.append((inter & (frame.dirs & 1 > 0), l0[0], frame.mv0, frame.sub0))
        parts.append((inter & (frame.dirs & 2 > 0), l1[0], frame.mv1, frame.sub1))
    for used, ref, mv, sub in parts:
        if used.any():
            py, pc = _split_predict(ref, cfg, mv, sub, (frame.split > 0) & used, used)
            luma += np.where(_spread(used, b), py, 0)
            chroma += np.where(_spread(used, b // 2)[None], pc, 0)
    if frame.kind == _B:
        both = frame.dirs == 3
        luma = np.where(_spread(both, b), (luma + 1) >> 1, luma)
        chroma = np.where(_spread(both, b // 2)[None], (chroma + 1) >> 1, chroma)
    return luma, chroma


def _sub_field(mv: np.ndarray, sub: np.ndarray, split: np.ndarray) -> np.ndarray:
    """Vectors per sub-block [2*rows, 2*cols, 2]: a split macroblock's own four, else its one vector four times."""
    rows, cols = split.shape
    fine = np.where(split[..., None, None] > 0, sub, mv[:, :, None, :])
    return fine.reshape(rows, cols, 2, 2, 2).swapaxes(1, 2).reshape(2 * rows, 2 * cols, 2)


def _half_config(cfg: _Config) -> _Config:
    """The settings that predict sub-blocks: half the block side; no OBMC below 8 pels (its ramp would cover the block)."""
    return replace(cfg, block=cfg.block // 2, obmc=cfg.obmc if cfg.block >= 16 else 0)


def _split_predict(ref: _Reference, cfg: _Config, mv: np.ndarray, sub: np.ndarray, split: np.ndarray, used: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`_predict` of only the `used` macroblocks (zero elsewhere), the `split` ones sub-block by sub-block from their own vectors."""
    rows, cols = used.shape
    b = cfg.block
    planes = np.zeros((rows * b, cols * b), np.int32), np.zeros((2, rows * b // 2, cols * b // 2), np.int32)
    whole = used & ~split
    if whole.any():
        luma, chroma = _predict_blocks(ref, cfg, mv, used, np.flatnonzero(whole))
        _put_sub_blocks(planes, whole, luma, chroma)
    if split.any():
        fine = _spread(split, 2)
        luma, chroma = _predict_blocks(ref, _half_config(cfg), _sub_field(mv, sub, split), _spread(used, 2), np.flatnonzero(fine))
        _put_sub_blocks(planes, fine, luma, chroma)
    return planes


def _put_sub_blocks(planes: tuple[np.ndarray, np.ndarray], fine: np.ndarray, luma: np.ndarray, chroma: np.ndarray) -> None:
    """Write the `_predict_blocks` output of the blocks `fine` (a grid of macroblocks or of sub-blocks) into contiguous luma and chroma planes."""
    (rows, cols), b, bc = fine.shape, luma.shape[-1], chroma.shape[-1]
    planes[0].reshape(rows, b, cols, b).swapaxes(1, 2)[fine] = luma  # views of the planes
    planes[1].reshape(2, rows, bc, cols, bc).swapaxes(2, 3)[:, fine] = chroma


def _edge_motion(frame: _Frame, cfg: _Config, kk: int) -> tuple[np.ndarray, np.ndarray]:
    """Per transform block of a plane with kk x kk per macroblock: its motion signature and the id of the
    partition it lies in (sub-blocks count as partitions where they hold whole transform blocks)."""
    rows, cols = cfg.grid
    motion = _motion_signature(frame, cfg.subpel)
    if kk < 2 or not frame.split.any():
        return _spread(motion, kk), _spread(np.arange(rows * cols).reshape(rows, cols), kk)
    fine = np.repeat(np.repeat(motion, 2, 0), 2, 1)
    fine[..., 0:2] = _sub_field(frame.mv0, frame.sub0, frame.split)
    fine[..., 2:4] = _sub_field(frame.mv1, frame.sub1, frame.split)
    return _spread(fine, kk // 2), _spread(np.arange(4 * rows * cols).reshape(2 * rows, 2 * cols), kk // 2)


def _quadrants(blocks: np.ndarray, ts: int) -> np.ndarray:
    """[..., ts, ts] blocks -> [..., 4, ts/2, ts/2] their quadrants in raster order."""
    h = ts // 2
    lead = blocks.shape[:-2]
    return blocks.reshape(*lead, 2, h, 2, h).swapaxes(-3, -2).reshape(*lead, 4, h, h)


def _from_quadrants(quads: np.ndarray, ts: int) -> np.ndarray:
    """Inverse of `_quadrants`."""
    h = ts // 2
    lead = quads.shape[:-3]
    return quads.reshape(*lead, 2, 2, h, h).swapaxes(-3, -2).reshape(*lead, ts, ts)


def _add_luma_residual(pred: np.ndarray, levels: np.ndarray, small: np.ndarray, cfg: _Config, q16) -> np.ndarray:
    """`_add_residual` for inter luma, where the `small` macroblocks' levels are transforms of half the size."""
    small = small.reshape(-1)
    y = _add_residual(pred, levels * ~small[:, None, None], cfg, q16, cfg.block)
    if not small.any():
        return y
    ts = cfg.tsize
    half = replace(cfg, tsize=ts // 2)
    quads = levels[small].reshape(-1, (ts // 2) ** 2)
    coded = np.any(quads != 0, -1)
    res = np.zeros((quads.shape[0], ts // 2, ts // 2), np.int64)
    if coded.any():
        each = q16 if np.ndim(q16) == 0 else np.repeat(q16[small], 4 * levels.shape[1])[coded]  # per quadrant
        res[coded] = _inverse(quads[coded], half, each)
    blocks = _to_tblocks(pred, cfg.block, ts).astype(np.int64)
    blocks[small] += _from_quadrants(res.reshape(-1, levels.shape[1], 4, ts // 2, ts // 2), ts)
    rows, cols = pred.shape[0] // cfg.block, pred.shape[1] // cfg.block
    merged = np.clip(_from_tblocks(blocks, rows, cols, cfg.block, ts), 0, 255).astype(np.int32)
    return np.where(_spread(small.reshape(rows, cols), cfg.block), merged, y)


def _motion_signature(frame: _Frame, subpel: int) -> np.ndarray:
    """Per-macroblock [rows, cols, 6]: both vectors, direction and reference, scaled so any change in
    the last two counts as motion for the loop filter."""
    return np.concatenate([frame.mv0, frame.mv1, frame.dirs[..., None] * subpel, frame.refidx[..., None] * subpel], -1)


def _reconstruct(frame: _Frame, l0: list[_Reference], l1: list[_Reference], cfg: _Config, chooser=None) -> tuple[np.ndarray, np.ndarray]:
    """Decoded (padded) luma [Hp, Wp] and chroma [2, Hp/2, Wp/2] as uint8."""
    rows, cols = cfg.grid
    b, ts = cfg.block, cfg.tsize
    intra = frame.modes == _INTRA
    qy, qc = _frame_q(cfg, frame.kind, frame.depth)  # the loop filter's
    qy_mb, qc_mb = _mb_q(cfg, frame)  # the residuals'
    if frame.kind == _I:
        y = np.zeros((rows * b, cols * b), np.int32)
        uv = np.zeros((2, rows * b // 2, cols * b // 2), np.int32)
    else:
        luma_pred, chroma_pred = _inter_predict(frame, l0, l1, cfg)
        inter_only = (~intra).reshape(-1, 1, 1)
        y = _add_luma_residual(luma_pred, frame.luma * inter_only, frame.small & ~intra, cfg, qy_mb)
        kc2 = frame.chroma.shape[1] // 2
        chroma = frame.chroma * inter_only
        uv = np.stack([_add_residual(chroma_pred[i], chroma[:, i * kc2 : (i + 1) * kc2], cfg, qc_mb, b // 2) for i in range(2)])
    _intra_pass(y, uv, frame, cfg, qy_mb, qc_mb, chooser)
    if cfg.loop_filter:
        k, kc = b // ts, b // 2 // ts
        coded_c = np.any(frame.chroma != 0, -1).reshape(-1, 2, kc * kc).any(1)
        for plane, q16, kk, coded in ((y, qy, k, np.any(frame.luma != 0, -1)), (uv[0], qc, kc, coded_c), (uv[1], qc, kc, coded_c)):
            _deblock(plane, cfg, q16, _spread(intra, kk), _per_tblock(coded, rows, cols, kk), *_edge_motion(frame, cfg, kk))
    return y.astype(np.uint8), uv.astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# encoder decisions


def _integer_search(cur: np.ndarray, ref_padded: np.ndarray, cfg: _Config, lam: float, device=None) -> np.ndarray:
    """Rate-constrained integer search: vectors [rows, cols, 2] in 1/subpel pel. On a torch `device`, every block
    over the whole range (`_torch_window_costs`). Otherwise every block is searched within +-_NARROW_REACH pels;
    a block whose best vector lies on that window's edge, or next to a block whose vector lies beyond it, is
    searched again over the whole range (until no more are)."""
    rows, cols = cfg.grid
    r, s = cfg.search, cfg.subpel
    reach = 2 * r * s  # the largest |offset - predictor|: predictors are chosen offsets' medians
    bits = _mv_bits(np.arange(-reach, reach + 1))  # bits[reach + d] = _mv_bits(d)
    every = np.arange(rows * cols)
    chosen, pred = np.zeros((rows * cols, 2), np.int64), np.zeros((rows * cols, 2), np.int64)
    if device is not None:
        costs = _torch_window_costs(cur, ref_padded, cfg, device)
        _rate_choice(costs, np.arange(-r, r + 1) * s, bits, lam, chosen, pred, every, (rows, cols))
        return chosen.reshape(rows, cols, 2)
    narrow = min(r, _NARROW_REACH)
    costs = _window_costs(cur, ref_padded, cfg, narrow, every)
    _rate_choice(costs.reshape(rows * cols, -1), np.arange(-narrow, narrow + 1) * s, bits, lam, chosen, pred, every, (rows, cols))
    if narrow < r:
        n, inner = 2 * r + 1, slice(r - narrow, r + narrow + 1)
        wide = np.full((rows * cols, n, n), np.inf, np.float32)
        wide[:, inner, inner] = costs
        widened = np.zeros(rows * cols, bool)
        while (edge := np.flatnonzero(~widened & _reaching(np.abs(chosen).max(1), narrow * s, (rows, cols)))).size:
            wide[edge] = _window_costs(cur, ref_padded, cfg, r, edge)
            widened[edge] = True
            _rate_choice(wide.reshape(rows * cols, n * n), np.arange(-r, r + 1) * s, bits, lam, chosen, pred, edge, (rows, cols))
    return chosen.reshape(rows, cols, 2)


def _reaching(extent: np.ndarray, bound: int, grid: tuple[int, int]) -> np.ndarray:
    """Which blocks to search beyond +-bound, from their vectors' largest components `extent` [N]: those on the
    window's edge, and the neighbours (eight around) of each one whose vector lies beyond it."""
    beyond = (extent > bound).reshape(grid).astype(np.uint8)
    return (extent == bound) | cv2.dilate(beyond, np.ones((3, 3), np.uint8)).reshape(-1).astype(bool)


def _window_costs(cur: np.ndarray, ref_padded: np.ndarray, cfg: _Config, reach: int, blocks: np.ndarray) -> np.ndarray:
    """SSDs [len(blocks), 2*reach+1, 2*reach+1] of the macroblocks `blocks` (raster indices) at every integer
    vector within +-reach pels."""
    cols, b, pad = cfg.grid[1], cfg.block, cfg.pad
    costs = np.empty((len(blocks), 2 * reach + 1, 2 * reach + 1), np.float32)
    for k, (by, bx) in enumerate(zip(*np.divmod(blocks, cols))):
        y0, x0 = by * b + pad - reach, bx * b + pad - reach
        window = ref_padded[y0 : y0 + b + 2 * reach, x0 : x0 + b + 2 * reach]
        cv2.matchTemplate(window, cur[by * b : by * b + b, bx * b : bx * b + b], cv2.TM_SQDIFF, result=costs[k])
    return costs


def _rate_choice(costs, offsets, bits, lam: float, chosen: np.ndarray, pred: np.ndarray, todo: np.ndarray, grid: tuple[int, int]) -> None:
    """Rechoose the vectors `chosen` [N, 2] of the blocks `todo` as the least SSD `costs` [N, len(offsets)**2] (float32:
    adding the float64 rate promotes them exactly) plus lam times the bits from their median predictor `pred` [N, 2],
    then those whose predictor changed, until none does (both updated in place). The raster-order recursion is solved
    by fixed-point iteration: on this acyclic dependency the only fixed point is the block-by-block result, reached
    within as many passes as the longest chain of changes (a few: neighbouring vectors agree)."""
    n, reach = offsets.size, (bits.size - 1) // 2
    everywhere = np.ones(grid, bool)
    while todo.size:
        bits_y, bits_x = bits[reach + offsets - pred[todo, :1]], bits[reach + offsets - pred[todo, 1:]]
        best = (costs[todo] + (lam * (bits_y[:, :, None] + bits_x[:, None, :])).reshape(todo.size, n * n)).argmin(1)
        chosen[todo, 0], chosen[todo, 1] = offsets[best // n], offsets[best % n]
        update = _predictors(chosen.reshape(*grid, 2), everywhere).reshape(-1, 2)
        todo = np.flatnonzero((update != pred).any(1))
        pred[:] = update


def _predictors(mv: np.ndarray, available: np.ndarray) -> np.ndarray:
    """Median predictors of a whole vector field, as `_median_predictor` gives them block by block
    (`available`: the blocks whose vectors predict; the others count as zero, or are skipped when just
    one of the three neighbours is available)."""
    field = np.where(available[..., None], mv, 0).astype(np.int64)
    out = np.zeros_like(field)
    out[:, 1:] = field[:, :-1]  # the left vector (all of the top row's predictor)
    up = field[:-1]
    corner = np.zeros_like(up)
    corner[:, :-1] = up[:, 1:]
    if up.shape[1] > 1:
        corner[:, -1] = up[:, -2]
    left = out[1:]
    median = np.maximum(np.minimum(left, up), np.minimum(np.maximum(left, up), corner))
    if up.shape[1] > 1 and available.all():  # every block below the top row has its upper two neighbours
        out[1:] = median
        return out
    has_left = np.zeros_like(available[1:])
    has_left[:, 1:] = available[1:, :-1]
    has_up = available[:-1]
    has_corner = np.zeros_like(has_up)
    has_corner[:, :-1] = has_up[:, 1:]
    if up.shape[1] > 1:
        has_corner[:, -1] = has_up[:, -2]
    alone = (has_left.astype(int) + has_up + has_corner == 1)[..., None]
    out[1:] = np.where(alone, left + up + corner, median)  # the unavailable two are zero
    return out


def _block_sum(err: np.ndarray, b: int) -> np.ndarray:
    """Sums of the b x b blocks over the last two axes."""
    h, w = err.shape[-2:]
    if err.dtype.kind in "iu":  # integers sum exactly in any order: rows, then columns (a quarter of the time)
        strips = err.reshape(*err.shape[:-2], h // b, b, w).sum(-2)
        return strips.reshape(*strips.shape[:-1], w // b, b).sum(-1)
    return err.reshape(*err.shape[:-2], h // b, b, w // b, b).sum((-3, -1))


def _motion(cur: np.ndarray, ref: _Reference, cfg: _Config, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Best vector per macroblock against one reference and its cost (SSD + lam * vector bits):
    integer search (`_integer_search`), then half- and quarter-pel refinement of every block at once
    (the SSDs on the torch device of `_search_device`, where there is one)."""
    device = _search_device()
    mv = _integer_search(cur.astype(np.uint8), ref.padded, cfg, lam, device)
    pred_mv = _predictors(mv, np.ones(mv.shape[:2], bool))
    hp, wp = cur.shape
    ys, xs = np.arange(hp, dtype=np.int32)[:, None], np.arange(wp, dtype=np.int32)[None, :]
    row = ref.phases.shape[1]
    at_zero = _luma_index(ref.phases, cfg, ys, xs, np.int32(0), np.int32(0))
    # whole pel values: integer SSDs equal the float ones
    ssds = _ssds(ref.phases, _as_blocks(at_zero, cfg.block), _as_blocks(cur.astype(np.int32), cfg.block), device)

    def rate(cand: np.ndarray) -> np.ndarray:
        return lam * _mv_bits(cand - pred_mv).sum(-1)

    best_cost = ssds(_flat_offsets(mv, row)[None])[0].reshape(mv.shape[:2]) + rate(mv)
    step = cfg.subpel // 2
    while step >= 1:
        centre, around = mv, [np.array([dy, dx]) for dy in (-step, 0, step) for dx in (-step, 0, step) if dy or dx]
        distortion = ssds(np.stack([_flat_offsets(centre + d, row) for d in around]))
        for d, ssd in zip(around, distortion):
            cand = centre + d
            cost = ssd.reshape(mv.shape[:2]) + rate(cand)
            better = cost < best_cost
            best_cost = np.where(better, cost, best_cost)
            mv = np.where(better[..., None], cand, mv)
        step //= 2
    return mv, best_cost


def _as_blocks(plane: np.ndarray, b: int) -> np.ndarray:
    """A plane [rows*b, cols*b] as its blocks in raster order [rows*cols, b, b]."""
    h, w = plane.shape
    return plane.reshape(h // b, b, w // b, b).swapaxes(1, 2).reshape(-1, b, b)


def _flat_offsets(vectors: np.ndarray, row: int) -> np.ndarray:
    """Vectors [..., 2] in 1/subpel pel as offsets of a flat index into interleaved phases whose rows hold `row` samples."""
    return (vectors[..., 0] * row + vectors[..., 1]).reshape(-1)


def _ssds(phases: np.ndarray, base: np.ndarray, target: np.ndarray, device) -> "_NumpySSD | _TorchSSD":
    """The SSD sampler of `target` blocks against `phases` at `base` (see `_NumpySSD`), on the torch `device` if any."""
    return _NumpySSD(phases, base, target) if device is None else _TorchSSD(phases, base, target, device)


class _NumpySSD:
    """SSDs of the blocks `target` (int32 [n, h, w]) against interleaved phases sampled at `base` (flat indices
    [n, h, w]) moved by an offset per block."""

    def __init__(self, phases: np.ndarray, base: np.ndarray, target: np.ndarray) -> None:
        self.flat, self.base, self.target = phases.reshape(-1), base, target  # uint8 phases: bytes

    def __call__(self, offsets: np.ndarray) -> np.ndarray:
        """SSDs [k, n] (int64) at the flat offsets [k, n] (at most b*b * 255^2 per block: no int32 overflow)."""
        out = np.empty(offsets.shape, np.int64)
        for k, offset in enumerate(offsets):
            err = np.subtract(np.take(self.flat, self.base + offset.astype(self.base.dtype)[:, None, None]), self.target, dtype=np.int32)
            out[k] = np.einsum("nij,nij->n", err, err)
        return out


# ----------------------------------------------------------------------------------------------
# motion search on a CUDA job: torch, in integers (every SSD exact, so decisions do not depend on
# summation order); reconstruction stays numpy on every device, so the decoder (numpy) reproduces
# the encoder's reference whichever device either ran on

_TORCH_CHUNK = 1 << 25  # candidate pixel differences per batch on the device (128 MiB of int32)


def _search_device():
    """The torch device motion search runs on: CUDA on a CUDA job (`DEVICE`), else None (numpy and OpenCV)."""
    if DEVICE != "cuda":
        return None
    import torch

    return torch.device("cuda")


def _torch_window_costs(cur: np.ndarray, ref_padded: np.ndarray, cfg: _Config, device) -> np.ndarray:
    """SSDs [rows*cols, n*n] (n = 2*search+1; float64, exact) of every macroblock of `cur` at every integer vector
    within the search range of the padded reference, computed on the torch `device` in integers."""
    import torch

    rows, cols = cfg.grid
    b, r, pad = cfg.block, cfg.search, cfg.pad
    n, side = 2 * r + 1, b + 2 * r
    ref = torch.from_numpy(np.ascontiguousarray(ref_padded)).to(device, torch.int32)[pad - r :, pad - r :]
    windows = ref.unfold(0, side, b).unfold(1, side, b)[:rows, :cols].reshape(rows * cols, side, side)
    blocks = torch.from_numpy(np.ascontiguousarray(cur)).to(device, torch.int32)
    blocks = blocks.reshape(rows, b, cols, b).transpose(1, 2).reshape(rows * cols, 1, 1, b, b)
    candidates = windows.unfold(1, b, 1).unfold(2, b, 1)  # [N, n, n, b, b]: the block at every vector
    per = max(1, _TORCH_CHUNK // (n * n * b * b))
    costs = []
    for k in range(0, rows * cols, per):
        err = candidates[k : k + per] - blocks[k : k + per]
        costs.append((err * err).sum((-2, -1)))  # products, not powers: no kernel compiled at run time
    return torch.cat(costs).reshape(rows * cols, n * n).cpu().numpy().astype(np.float64)


class _TorchSSD:
    """`_NumpySSD` on a torch device: the phases, indices and blocks are copied there once, and every offset's
    SSDs are computed in one batch, exactly (integers)."""

    def __init__(self, phases: np.ndarray, base: np.ndarray, target: np.ndarray, device) -> None:
        import torch

        self.torch, self.device = torch, device
        self.flat = torch.from_numpy(np.ascontiguousarray(phases).reshape(-1)).to(device)
        self.base = torch.from_numpy(np.ascontiguousarray(base, np.int64)).to(device)
        self.target = torch.from_numpy(np.ascontiguousarray(target, np.int32)).to(device)

    def __call__(self, offsets: np.ndarray) -> np.ndarray:
        """SSDs [k, n] (int64) at the flat offsets [k, n]."""
        torch = self.torch
        moved = self.base[None] + torch.from_numpy(np.ascontiguousarray(offsets, np.int64)).to(self.device)[:, :, None, None]
        err = torch.take(self.flat, moved).to(torch.int32) - self.target
        return (err * err).sum((-2, -1)).cpu().numpy()


def _transform_mb(residual_y: np.ndarray, residual_uv: np.ndarray, cfg: _Config) -> tuple[np.ndarray, np.ndarray]:
    """Residual planes -> DCT coefficients, macroblock-major [nMB, k*k, n] and [nMB, 2*kc*kc, n]."""
    b, ts = cfg.block, cfg.tsize
    cy = _forward(_to_tblocks(residual_y, b, ts), ts)
    cu = _forward(_to_tblocks(residual_uv[0], b // 2, ts), ts)
    cv = _forward(_to_tblocks(residual_uv[1], b // 2, ts), ts)
    return cy, np.concatenate([cu, cv], axis=1)


@dataclass(frozen=True)
class _Coding:
    """How one frame's residuals are quantised and weighed: one q16 and lam for the frame, or with adaptive
    quantisation one per macroblock [nMB] each (`at` keeps those of some macroblocks)."""

    qy: int | np.ndarray
    qc: int | np.ndarray
    lam: float | np.ndarray
    bit_cost: float
    rdoq: bool

    @property
    def lam_floor(self) -> float:
        """The least lam of any macroblock: a lower bound of a cost computed with it holds everywhere."""
        return float(np.min(self.lam))

    def at(self, mbs: np.ndarray) -> "_Coding":
        """The coding of the macroblocks `mbs` (raster indices) alone."""
        if np.ndim(self.lam) == 0:
            return self
        return replace(self, qy=self.qy[mbs], qc=self.qc[mbs], lam=self.lam[mbs])


def _code_mb(cur_y, cur_uv, pred_y, pred_uv, cfg: _Config, coding: _Coding, rounding: float):
    """Transform and quantise every macroblock; returns (luma levels, chroma levels, D per MB, bits per MB)."""
    cy, cc = _transform_mb(cur_y - pred_y, cur_uv - pred_uv, cfg)
    lam = _per_mb(coding.lam)
    ly, dy, by = _code_blocks(cy, _steps(cfg, coding.qy), rounding, lam, coding.bit_cost, coding.rdoq)
    lc, dc, bc = _code_blocks(cc, _steps(cfg, coding.qc), rounding, lam, coding.bit_cost, coding.rdoq)
    return ly, lc, dy.sum(-1) + dc.sum(-1), by.sum(-1) + bc.sum(-1)


def _open_loop_intra(plane: np.ndarray, around: np.ndarray, n: int) -> np.ndarray:
    """A cheap intra prediction of every n x n block of `plane` from the pixels of `around` next to
    it (the frame's inter prediction, a stand-in for its reconstruction): the best (by SSD) of DC,
    vertical and horizontal. For the intra/inter decision only."""
    h, w = plane.shape
    rows, cols = h // n, w // n
    top = np.vstack([np.full((1, w), 128.0), around[n - 1 : -1 : n]])
    left = np.hstack([np.full((h, 1), 128.0), around[:, n - 1 : -1 : n]])
    vertical = np.repeat(top, n, 0)
    horizontal = np.repeat(left, n, 1)
    dc = _spread((top.reshape(rows, cols, n).sum(-1) + left.reshape(rows, n, cols).sum(1)) / (2 * n), n)
    candidates = np.stack([dc, vertical, horizontal])
    sse = _block_sum((candidates - plane) ** 2, n)
    pick = _spread(np.argmin(sse, 0), n)
    return np.take_along_axis(candidates, pick[None], 0)[0]


@dataclass(frozen=True)
class _IntraChooser:
    """The encoder's intra decisions, called by `_intra_pass` for each wavefront of blocks:
    `luma(mbs, js, ty, tx, neighbours)` sets those luma blocks' modes and levels and returns their predictions,
    `chroma(mbs, pred, pixels)` those macroblocks' chroma levels from their prediction [2, B, b/2, b/2] (U, V)."""

    luma: object
    chroma: object


def _intra_chooser(cur_y: np.ndarray, cur_uv: np.ndarray, frame: _Frame, cfg: _Config, coding: _Coding, p: dict) -> _IntraChooser:
    """For each luma transform block, each allowed mode's prediction is transformed and quantised,
    and the cheapest by distortion + lam * bits sets the block's mode and levels; the chroma levels
    follow from the macroblock's chroma prediction."""
    ts = cfg.tsize
    k = cfg.block // ts
    allowed = _INTRA_MODE_SETS[p["intra_modes"]]
    allowed_modes = np.array(allowed)
    kc2 = frame.chroma.shape[1] // 2

    def luma(mbs: np.ndarray, js: np.ndarray, ty: np.ndarray, tx: np.ndarray, neighbours: tuple) -> np.ndarray:
        preds = _intra_predictions(*neighbours, ts, allowed)
        coef = _forward(cur_y[_block_pixels(ty * ts, tx * ts, ts)][:, None] - preds, ts)
        lam = _per_mb(_pick(coding.lam, mbs))
        levels, dist, bits = _code_blocks(coef, _steps(cfg, _pick(coding.qy, mbs)), p["intra_rounding"], lam, coding.bit_cost, coding.rdoq)
        mpm = _most_probable_many(frame.imodes, frame.modes, ty, tx, k)
        mode_bits = np.where(allowed_modes == mpm[:, None], 1.0, 4.0)
        best = np.argmin(dist + lam * (bits + mode_bits), axis=1)
        frame.imodes[ty, tx] = allowed_modes[best]
        frame.luma[mbs, js] = levels[np.arange(best.size), best]
        return preds[np.arange(best.size), best]

    def chroma(mbs: np.ndarray, pred: np.ndarray, pixels: tuple) -> None:
        residual = np.concatenate([cur_uv[0][pixels] - pred[0], cur_uv[1][pixels] - pred[1]])
        both = np.tile(mbs, 2)  # U blocks, then V blocks
        levels = _code_blocks(_forward(_stack_tblocks(residual, ts), ts), _steps(cfg, _pick(coding.qc, both)), p["intra_rounding"],
                              _per_mb(_pick(coding.lam, both)), coding.bit_cost, coding.rdoq)[0]
        frame.chroma[mbs] = levels.reshape(2, mbs.size, kc2, -1).swapaxes(0, 1).reshape(mbs.size, 2 * kc2, -1)

    return _IntraChooser(luma, chroma)


def _decide_frame(cur_y8, cur_uv8, entry: _Coded, l0: list[_Reference], l1: list[_Reference], cfg: _Config, p: dict):
    """Choose modes, vectors and levels for one frame; returns the frame and the intra chooser that
    `_reconstruct` calls for its intra macroblocks."""
    rows, cols = cfg.grid
    b = cfg.block
    qy, qc = _frame_q(cfg, entry.kind, entry.depth)
    lam = p["lambda_scale"] * (qy / 16.0) ** 2  # the frame's: the motion search's, and every macroblock's without AQ
    frame = _empty_frame(cfg, entry.kind, entry.depth)
    if cfg.aq:
        frame.dq[:] = _aq_offsets(cur_y8, b, p["aq_strength"])
        qy_mb, qc_mb = _mb_q(cfg, frame)
        coding = _Coding(qy_mb, qc_mb, p["lambda_scale"] * (qy_mb / 16.0) ** 2, p["coef_bit_cost"], p["rdoq"])
    else:
        coding = _Coding(qy, qc, lam, p["coef_bit_cost"], p["rdoq"])
    lam_mb = coding.lam.reshape(rows, cols) if cfg.aq else lam
    cur_y = cur_y8.astype(np.float64)
    cur_uv = cur_uv8.astype(np.float64)
    chooser = _intra_chooser(cur_y, cur_uv, frame, cfg, coding, p)
    if entry.kind == _I:
        return frame, chooser

    # candidates per macroblock: (dirs, refidx, mv0, mv1, side bits, prediction)
    everywhere = np.ones((rows, cols), bool)
    candidates = []
    if entry.kind == _P:
        for i, ref in enumerate(l0):
            mv, motion_cost = _motion(cur_y, ref, cfg, lam)
            side = _mv_bits(mv - _predictors(mv, everywhere)).sum(-1) + (min(i + 1, len(l0) - 1) if len(l0) > 1 else 0)
            candidates.append((1, i, mv, np.zeros_like(mv), side, _predict(ref, cfg, mv, everywhere), None))
            if p["partitions"]:
                worth = _worth_splitting(motion_cost, lam * _SPLIT_MIN_BITS)
                found = _partition_motion(cur_y, ref, cfg, lam, mv, p["sub_search"], worth)
                kind, sub, cost = _best_partition(found)
                side = _sub_bits(sub, kind, _predictors(mv, everywhere)) + 2.0 + (min(i + 1, len(l0) - 1) if len(l0) > 1 else 0)
                side = np.where(np.isfinite(cost), side, np.inf)
                candidates.append((1, i, sub[:, :, 3], np.zeros_like(mv), side, _fine_predict(ref, cfg, sub, worth), (kind, sub, np.zeros_like(sub))))
    else:
        mv0, cost0 = _motion(cur_y, l0[0], cfg, lam)
        mv1, cost1 = _motion(cur_y, l1[0], cfg, lam)
        bits0 = _mv_bits(mv0 - _predictors(mv0, everywhere)).sum(-1)
        bits1 = _mv_bits(mv1 - _predictors(mv1, everywhere)).sum(-1)
        zero = np.zeros_like(mv0)
        past, future = _predict(l0[0], cfg, mv0, everywhere), _predict(l1[0], cfg, mv1, everywhere)
        both = tuple((a + b + 1) >> 1 for a, b in zip(past, future))
        candidates = [(1, 0, mv0, zero, bits0 + 2, past, None), (2, 0, zero, mv1, bits1 + 2, future, None),
                      (3, 0, mv0, mv1, bits0 + bits1 + 1, both, None)]
        if p["partitions"]:
            cost_both = _block_sum((both[0] - cur_y) ** 2, b) + lam * (bits0 + bits1)
            worth = _worth_splitting(np.minimum(np.minimum(cost0, cost1), cost_both), lam * _SPLIT_B_MIN_COST * entry.depth**2)
            candidates += _split_b_candidates(cur_y, l0[0], l1[0], cfg, lam, mv0, mv1, p["sub_search"], worth)
    best_j = best_y = best_uv = None
    for dirs, ref, mv0, mv1, side, (pred_y, pred_uv), subs in candidates:
        where = np.isfinite(side)
        if best_j is not None:  # exact early termination: only where the candidate's least possible cost beats the best so far
            where &= _rd_floor(cur_y, cur_uv, pred_y, pred_uv, cfg, coding, 1.0 + side) < best_j
        j = _rd_cost(cur_y, cur_uv, pred_y, pred_uv, cfg, coding, p["inter_rounding"], 1.0, where) + lam_mb * side
        better = everywhere if best_j is None else j < best_j
        best_j = j if best_j is None else np.where(better, j, best_j)
        best_y = pred_y if best_y is None else np.where(_spread(better, b), pred_y, best_y)
        best_uv = pred_uv if best_uv is None else np.where(_spread(better, b // 2)[None], pred_uv, best_uv)
        frame.dirs[better], frame.refidx[better] = dirs, ref
        frame.mv0[better], frame.mv1[better] = mv0[better], mv1[better]
        frame.split[better] = 0 if subs is None else subs[0][better]
        if subs is not None:
            frame.sub0[better], frame.sub1[better] = subs[1][better], subs[2][better]
    if p["intra_blocks"]:
        pred_y = _open_loop_intra(cur_y, best_y, b)
        pred_uv = np.stack([_open_loop_intra(cur_uv[i], best_uv[i], b // 2) for i in (0, 1)])
        where = _rd_floor(cur_y, cur_uv, pred_y, pred_uv, cfg, coding, 5.0) < best_j
        use_intra = _rd_cost(cur_y, cur_uv, pred_y, pred_uv, cfg, coding, p["intra_rounding"], 5.0, where) < best_j
        frame.modes[use_intra] = _INTRA
        frame.dirs[use_intra] = frame.refidx[use_intra] = 0
        frame.mv0[use_intra] = frame.mv1[use_intra] = 0
        frame.split[use_intra] = 0
    pred_y, pred_uv = _inter_predict(frame, l0, l1, cfg)  # the blend at edges between directions differs from best_y
    luma, chroma, _, _ = _code_mb(cur_y, cur_uv, pred_y, pred_uv, cfg, coding, p["inter_rounding"])
    inter = (frame.modes != _INTRA).reshape(-1, 1, 1)
    frame.luma[:] = luma * inter
    frame.chroma[:] = chroma * inter
    if cfg.tsplit:
        _choose_transform_size(frame, cur_y, pred_y, cfg, coding, p["inter_rounding"])
    _decide_skips(frame, cur_y, cur_uv, l0, l1, cfg, lam_mb, best_j)
    return frame, chooser


def _aq_offsets(y: np.ndarray, block: int, strength: float) -> np.ndarray:
    """Adaptive quantisation: each macroblock's step offset [rows, cols] of the padded luma `y`, strength times
    (the log2 of its variance less the frame's mean of those), rounded, within +-_DQ_MAX: flat blocks, where
    errors show, get finer steps, busy ones coarser."""
    log_var = np.log2(_as_blocks(y.astype(np.float64), block).var((1, 2)) + 1.0)
    dq = np.clip(np.rint(strength * (log_var - log_var.mean())), -_DQ_MAX, _DQ_MAX).astype(np.int64)
    return dq.reshape(y.shape[0] // block, y.shape[1] // block)


def _mb_strip(plane: np.ndarray, size: int, chosen: np.ndarray) -> np.ndarray:
    """The size x size macroblocks `chosen` (raster indices) of a plane [H, W], side by side in one row [size, n*size]."""
    h, w = plane.shape
    blocks = plane.reshape(h // size, size, w // size, size).swapaxes(1, 2).reshape(-1, size, size)[chosen]
    return blocks.swapaxes(0, 1).reshape(size, -1)


def _rd_floor(cur_y, cur_uv, pred_y, pred_uv, cfg: _Config, coding: _Coding, extra_bits) -> np.ndarray:
    """A lower bound [rows, cols] of what `_rd_cost` can return for this prediction plus lam * `extra_bits` (its mode and
    side bits): per transform block, one coded-block bit plus the least of its residual's energy (the distortion of
    dropping it; the DCT keeps energy) and lam * the bits of one nonzero level; less a margin for rounding."""
    ts = cfg.tsize

    def floor(residual: np.ndarray, size: int) -> np.ndarray:
        return _block_sum(_block_rd_floor(_block_sum(residual * residual, ts), coding), size // ts)

    luma = floor(cur_y - pred_y, cfg.block)
    chroma = sum(floor(cur_uv[i] - pred_uv[i], cfg.block // 2) for i in (0, 1))
    return (luma + chroma + coding.lam_floor * extra_bits) * (1.0 - 1e-9)


def _block_rd_floor(energy: np.ndarray, coding: _Coding) -> np.ndarray:
    """The least distortion + lam * bits `_code_blocks` can give a transform block of residual `energy`: dropped, its
    energy and one bit; coded, at least one nonzero level's bits and that bit."""
    lam = coding.lam_floor
    return np.minimum(energy, lam * coding.bit_cost) + lam


def _rd_cost(cur_y, cur_uv, pred_y, pred_uv, cfg: _Config, coding: _Coding, rounding: float, mode_bits: float, where: np.ndarray) -> np.ndarray:
    """Distortion + lam * bits [rows, cols] of coding each macroblock's residual from this prediction (plus
    `mode_bits` for its mode), computed only where `where` [rows, cols] is set (infinite elsewhere)."""
    if where.all():
        _, _, dist, bits = _code_mb(cur_y, cur_uv, pred_y, pred_uv, cfg, coding, rounding)
        return (dist + coding.lam * (bits + mode_bits)).reshape(where.shape)
    j = np.full(where.size, np.inf)
    chosen = np.flatnonzero(where)
    if chosen.size:
        b = cfg.block
        planes = [_mb_strip(cur_y, b, chosen), np.stack([_mb_strip(c, b // 2, chosen) for c in cur_uv]),
                  _mb_strip(pred_y, b, chosen), np.stack([_mb_strip(c, b // 2, chosen) for c in pred_uv])]
        some = coding.at(chosen)
        _, _, dist, bits = _code_mb(*planes, cfg, some, rounding)
        j[chosen] = dist + some.lam * (bits + mode_bits)
    return j.reshape(where.shape)


def _partition_motion(cur: np.ndarray, ref: _Reference, cfg: _Config, lam: float, mv: np.ndarray, reach: int, where: np.ndarray) -> dict:
    """For each split partition (1, 2, 3; see _CODED_SUBS) the sub-block vectors [rows, cols, 4, 2] and
    cost [rows, cols] (SSD + lam * the bits of each coded vector's difference from the macroblock's `mv`)
    of the macroblocks `where` [rows, cols] is set (elsewhere: `mv` and an infinite cost).
    Four sub-blocks: an integer search within `reach` pels of `mv` and the neighbours' vectors, then half- and quarter-pel
    refinement; halves: the best of that integer search and of their sub-blocks' refined vectors."""
    rows, cols = mv.shape[:2]
    b, h, s = cfg.block, cfg.block // 2, cfg.subpel
    chosen = np.flatnonzero(where.reshape(-1))
    oy = ((chosen // cols) * b)[:, None] + np.array([0, 0, h, h])
    ox = ((chosen % cols) * b)[:, None] + np.array([0, h, 0, h])
    ys = (oy.reshape(-1, 1) + np.arange(h)).astype(np.int32)[:, :, None]
    xs = (ox.reshape(-1, 1) + np.arange(h)).astype(np.int32)[:, None, :]
    target = cur[ys, xs].astype(np.int32)  # whole pel values: integer SSDs equal the float ones
    centre = np.repeat(mv.reshape(-1, 2)[chosen], 4, 0)
    bound = cfg.search * s + s  # what the decoder accepts
    row = ref.phases.shape[1]
    base = _luma_index(ref.phases, cfg, ys, xs, np.int32(0), np.int32(0))  # the sub-blocks' samples at vector 0
    ssds = _ssds(ref.phases, base, target, _search_device())

    def costs(cand: np.ndarray, d: np.ndarray, kinds) -> dict:
        """Per sub-block, the cost of its group's vector `cand` in each partition of `kinds` from the sub-blocks'
        SSDs `d` (halves: both sub-blocks' SSD)."""
        rate = lam * _mv_bits(cand - centre).sum(-1)
        by_mb = d.reshape(-1, 4)
        return {kind: (d if kind == 1 else (by_mb + by_mb[:, _PARTNER[kind]]).reshape(-1)) + rate for kind in kinds}

    best = {kind: centre for kind in _PARTNER}
    best_cost = costs(centre, ssds(_flat_offsets(centre, row)[None])[0], _PARTNER)

    def keep(candidates: list[np.ndarray], kinds) -> None:
        """Keep each of the `candidates` (vectors [n, 2] per sub-block, SSDs computed in one batch), in order."""
        for cand, d in zip(candidates, ssds(np.stack([_flat_offsets(c, row) for c in candidates]))):
            cost = costs(cand, d, kinds)
            inside = (np.abs(cand) <= bound).all(-1)
            for kind in kinds:
                better = (cost[kind] < best_cost[kind]) & inside
                best_cost[kind] = np.where(better, cost[kind], best_cost[kind])
                best[kind] = np.where(better[:, None], cand, best[kind])

    around = np.pad(mv, ((1, 1), (1, 1), (0, 0)), mode="edge")
    neighbours = (around[1:-1, :-2], around[1:-1, 2:], around[:-2, 1:-1], around[2:, 1:-1])  # left, right, top, bottom
    keep(
        [centre + np.array([dy * s, dx * s]) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1) if dy or dx]
        + [np.repeat(n.reshape(-1, 2)[chosen], 4, 0) for n in neighbours],
        _PARTNER,
    )
    step = s // 2
    while step >= 1:
        start = best[1]
        keep([start + np.array([dy, dx]) for dy in (-step, 0, step) for dx in (-step, 0, step) if dy or dx], (1,))
        step //= 2
    quads = best[1].reshape(-1, 4, 2)
    for kind, pairs in ((2, ((0, 0, 2, 2), (1, 1, 3, 3))), (3, ((0, 1, 0, 1), (2, 3, 2, 3)))):
        keep([quads[:, members].reshape(-1, 2) for members in pairs], (kind,))
    found = {}
    for kind in _PARTNER:
        subs = np.repeat(mv.reshape(-1, 1, 2), 4, 1)
        subs[chosen] = best[kind].reshape(-1, 4, 2)
        cost = np.full(rows * cols, np.inf)
        cost[chosen] = best_cost[kind].reshape(-1, 4)[:, _CODED_SUBS[kind]].sum(-1)
        found[kind] = (subs.reshape(rows, cols, 4, 2), cost.reshape(rows, cols))
    return found


def _best_partition(found: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cheapest partition per macroblock [rows, cols], its sub-block vectors and its cost, from `_partition_motion`."""
    kinds = sorted(found)
    costs = np.stack([found[k][1] for k in kinds])
    pick = np.argmin(costs, 0)
    subs = np.stack([found[k][0] for k in kinds])
    return np.array(kinds)[pick], np.take_along_axis(subs, pick[None, :, :, None, None], 0)[0], costs.min(0)


def _worth_splitting(motion_cost: np.ndarray, threshold: float) -> np.ndarray:
    """Early termination: the macroblocks whose best single-vector motion cost exceeds `threshold`
    (P: what the extra vectors of a split cost at least, the only ones a split can pay for; B: a
    cost below which a split is rarely chosen)."""
    return motion_cost > threshold


def _sub_predictors(sub, pmv):
    """The predictors of a split macroblock's four sub-block vectors, as the bitstream codes them: the first
    from the macroblock's predictor `pmv`, the second and third from the first, the last from the median
    of the other three. Works on ints (one macroblock) and on arrays [..., 2] (every macroblock at once)."""
    if isinstance(pmv, tuple):
        a, b, c = sub[0], sub[1], sub[2]
        return [pmv, tuple(a), tuple(a), tuple(sorted((a[i], b[i], c[i]))[1] for i in (0, 1))]
    return [pmv, sub[..., 0, :], sub[..., 0, :], np.median(sub[..., :3, :], -2).astype(np.int64)]


def _sub_bits(sub: np.ndarray, kind: np.ndarray, pmv: np.ndarray) -> np.ndarray:
    """Rough bits of every macroblock's coded sub-block vectors [rows, cols, 4, 2] in partition `kind` [rows, cols]."""
    preds = _sub_predictors(sub, pmv)
    coded = np.array([[j in _CODED_SUBS.get(k, ()) for j in range(4)] for k in range(4)])[kind]
    return sum(_mv_bits(sub[:, :, j] - preds[j]).sum(-1) * coded[..., j] for j in range(4))


def _fine_predict(ref: _Reference, cfg: _Config, sub: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The prediction of a frame whose every macroblock is split, from sub-block vectors [rows, cols, 4, 2],
    computed for the macroblocks `where` [rows, cols] is set only (zero elsewhere: candidates that cost infinity there)."""
    rows, cols = sub.shape[:2]
    field = sub.reshape(rows, cols, 2, 2, 2).swapaxes(1, 2).reshape(2 * rows, 2 * cols, 2)
    fine = _spread(where, 2)
    luma, chroma = _predict_blocks(ref, _half_config(cfg), field, np.ones((2 * rows, 2 * cols), bool), np.flatnonzero(fine))
    b = cfg.block
    planes = np.zeros((rows * b, cols * b), luma.dtype), np.zeros((2, rows * b // 2, cols * b // 2), chroma.dtype)
    _put_sub_blocks(planes, fine, luma, chroma)
    return planes


def _split_b_candidates(cur_y, past: _Reference, future: _Reference, cfg: _Config, lam: float, mv0, mv1, reach: int, where) -> list:
    """The split candidates of a B frame (past, future; a split predicted from both is rarely chosen
    and not tried) of the macroblocks `where` is set, in `_decide_frame`'s form."""
    everywhere = np.ones(mv0.shape[:2], bool)
    gate = np.where(where, 0.0, np.inf)
    zero = np.zeros_like(mv0)
    zsub = np.zeros((*mv0.shape[:2], 4, 2), np.int64)
    candidates = []
    for dirs, ref, mv in ((1, past, mv0), (2, future, mv1)):
        kind, sub, _ = _best_partition(_partition_motion(cur_y, ref, cfg, lam, mv, reach, where))
        side = _sub_bits(sub, kind, _predictors(mv, everywhere)) + 4.0 + gate
        vectors = (sub[:, :, 3], zero) if dirs == 1 else (zero, sub[:, :, 3])
        subs = (kind, sub, zsub) if dirs == 1 else (kind, zsub, sub)
        candidates.append((dirs, 0, *vectors, side, _fine_predict(ref, cfg, sub, where), subs))
    return candidates


def _choose_transform_size(frame: _Frame, cur_y: np.ndarray, pred_y: np.ndarray, cfg: _Config, coding: _Coding, rounding: float) -> None:
    """Per inter macroblock, recode luma in transforms of half the size where that costs less
    distortion + lam * bits (sets `frame.small` and those macroblocks' luma levels). The full-size
    cost is that of the levels `frame.luma` already holds (coded from `pred_y`)."""
    ts = cfg.tsize
    half = replace(cfg, tsize=ts // 2)
    inter = np.flatnonzero(frame.modes.reshape(-1) == _INTER)
    blocks = _to_tblocks(cur_y - pred_y, cfg.block, ts)[inter]
    big, mine = frame.luma[inter], coding.at(inter)
    error = _forward(blocks, ts) - big * _steps(cfg, mine.qy)
    j_big = np.einsum("...i,...i->...", error, error).sum(-1) + mine.lam * (_bit_estimate(big, coding.bit_cost) + 1.0).sum(-1)
    quads = _quadrants(blocks, ts)
    floor = _block_rd_floor((quads * quads).sum((-1, -2)), coding).sum((-1, -2)) * (1.0 - 1e-9)
    tried = np.flatnonzero(floor < j_big)  # elsewhere the half-size transforms cannot cost less
    coef = _forward(quads[tried], ts // 2)
    some = mine.at(tried)
    lam = _per_mb(some.lam, 2)
    levels, d_small, b_small = _code_blocks(coef, _steps(half, some.qy, 2), rounding, lam, coding.bit_cost, coding.rdoq)
    better = (d_small + lam * b_small).sum((-1, -2)) < j_big[tried]
    small = np.zeros(frame.small.size, bool)
    small[inter[tried[better]]] = True
    frame.small[:] = small.reshape(frame.small.shape)
    frame.luma[small] = levels[better].reshape(-1, *frame.luma.shape[1:])


def _skip_distortion(refs: list[_Reference], cfg: _Config, cur_y, cur_uv, vectors: list[np.ndarray]) -> np.ndarray:
    """SSD (luma + chroma) of every macroblock predicted without OBMC from each of `refs` at its
    vectors [rows, cols, 2] (averaged when there are two)."""
    py = [_plain_predict(ref, cfg, mv) for ref, mv in zip(refs, vectors)]
    if len(refs) == 2:
        py = [tuple((a + b + 1) >> 1 for a, b in zip(*py))]
    luma, chroma = py[0]
    return _block_sum((luma - cur_y) ** 2, cfg.block) + _block_sum(((chroma - cur_uv) ** 2).sum(0), cfg.block // 2)


def _block_skip_distortion(refs: list[_Reference], cfg: _Config, cur_y, cur_uv, r: int, c: int, vectors: list[tuple[int, int]]) -> float:
    """`_skip_distortion` of the one macroblock (r, c) at its own vectors, from slices of the
    references (a vector shared by the whole block needs no per-pixel gather); `cur_y`, `cur_uv`: float planes of whole numbers."""
    b, h, s = cfg.block, cfg.block // 2, cfg.subpel
    d = 2 * s
    luma = chroma = None
    for ref, (mvy, mvx) in zip(refs, vectors):
        y0, x0 = (r * b + cfg.pad) * s + mvy, (c * b + cfg.pad) * s + mvx
        block = ref.phases[y0 : y0 + b * s : s, x0 : x0 + b * s : s]
        y0, x0 = (r * h + cfg.pad // 2) * d + mvy, (c * h + cfg.pad // 2) * d + mvx
        blocks = ref.chroma[:, y0 : y0 + h * d : d, x0 : x0 + h * d : d]
        # uint8 samples enter the float differences as they are; two references average in int32
        luma = block if luma is None else (luma.astype(np.int32) + block + 1) >> 1
        chroma = blocks if chroma is None else (chroma.astype(np.int32) + blocks + 1) >> 1
    # the planes hold whole numbers: every partial sum of squares is exact, in any order
    luma = luma - cur_y[r * b : r * b + b, c * b : c * b + b]
    chroma = chroma - cur_uv[:, r * h : r * h + h, c * h : c * h + h]
    return np.vdot(luma, luma) + np.vdot(chroma, chroma)


def _decide_skips(frame: _Frame, cur_y, cur_uv, l0: list[_Reference], l1: list[_Reference], cfg: _Config, lam, j_inter: np.ndarray) -> None:
    """In raster order (the vector predictors depend on the final field), turn inter macroblocks into
    skips (P: first reference, predicted vector; B: the directions its neighbours predict in, predicted
    vectors; no residual) where that costs no more. The skip distortions at the predictors of the field before any skip
    are computed at once; a macroblock whose predictors an earlier skip changed gets its own."""
    rows, cols = cfg.grid
    bi = frame.kind == _B
    all_dirs = 3 if bi else 1
    refs = [l0[0], l1[0]] if bi else [l0[0]]
    coded = (np.any(frame.luma != 0, (1, 2)) | np.any(frame.chroma != 0, (1, 2))).reshape(rows, cols)
    before = [_predictors(mv, frame.dirs >> x & 1 > 0) for x, mv in enumerate((frame.mv0, frame.mv1))]
    d_before = _skip_distortion(refs, cfg, cur_y, cur_uv, before[: len(refs)])
    before = [[[tuple(v) for v in row] for row in field.tolist()] for field in before]
    fields = [[[None] * cols for _ in range(rows)] for _ in range(2)]  # None: the macroblock does not predict in that direction
    # each macroblock reads only its own symbols, before it changes them: read them as lists, write the arrays after
    modes, dirs, refidx, split = frame.modes.tolist(), frame.dirs.tolist(), frame.refidx.tolist(), frame.split.tolist()
    vectors, coded, d_before, j_inter = [frame.mv0.tolist(), frame.mv1.tolist()], coded.tolist(), d_before.tolist(), j_inter.tolist()
    lams = np.broadcast_to(lam, (rows, cols)).tolist()  # lam: the frame's, or one per macroblock [rows, cols]
    skipped = []  # (row, column, directions, past vector, future vector) of each skip
    for r in range(rows):
        for c in range(cols):
            if modes[r][c] == _INTRA:
                continue
            # a P frame predicts in the past only: its future predictor is (0, 0) and never read
            pmv = [_median_predictor(fields[0], rows, cols, r, c, refidx, 0), _median_predictor(fields[1], rows, cols, r, c, refidx, 0) if bi else (0, 0)]
            mine = [tuple(vectors[0][r][c]), tuple(vectors[1][r][c])]
            skip_dirs = _skip_directions(fields, cols, r, c) if bi else 1
            same = (dirs[r][c] == skip_dirs and refidx[r][c] == 0 and not split[r][c]
                    and (not skip_dirs & 1 or mine[0] == pmv[0]) and (not skip_dirs & 2 or mine[1] == pmv[1]))
            skip = same and not coded[r][c]
            if not skip:
                if skip_dirs == all_dirs and pmv[0] == before[0][r][c] and (not bi or pmv[1] == before[1][r][c]):
                    d_skip = d_before[r][c]
                else:
                    sides = [x for x in range(len(refs)) if skip_dirs >> x & 1]
                    d_skip = _block_skip_distortion([refs[x] for x in sides], cfg, cur_y, cur_uv, r, c, [pmv[x] for x in sides])
                skip = d_skip + lams[r][c] <= j_inter[r][c]
            used = dirs[r][c]
            if skip:
                refidx[r][c] = 0  # the predictors of the macroblocks after it read it
                used, mine = skip_dirs, [pmv[0] if skip_dirs & 1 else (0, 0), pmv[1] if skip_dirs & 2 else (0, 0)]
                skipped.append((r, c, skip_dirs, *mine))
            for x in (0, 1):
                if used >> x & 1:
                    fields[x][r][c] = mine[x]
    if skipped:  # the skips' symbols, written all at once
        at_r, at_c, skip_dirs, mv0, mv1 = (np.array(column) for column in zip(*skipped))
        frame.modes[at_r, at_c] = _SKIP
        frame.dirs[at_r, at_c], frame.refidx[at_r, at_c] = skip_dirs, 0
        frame.mv0[at_r, at_c], frame.mv1[at_r, at_c] = mv0, mv1
        frame.luma[at_r * cols + at_c] = 0
        frame.chroma[at_r * cols + at_c] = 0
        frame.split[at_r, at_c] = frame.small[at_r, at_c] = False


# ----------------------------------------------------------------------------------------------
# entropy coding: context-adaptive binary range coder


_PROB_BITS = 12
_PROB_ONE = 1 << _PROB_BITS
_TOP = 1 << 24


class _RangeEncoder:
    """Adaptive binary range encoder with LZMA's carry handling. Bins are queued (`ctxs`, `bits`:
    a context index, or -1 for a bypass bin) and coded in one pass by `flush`; `bit` and `bypass`
    queue one and return the bit."""

    encoding = True

    def __init__(self, contexts: int, shift: int):
        self.probs = [_PROB_ONE // 2] * contexts
        self.shift = shift
        self.low, self.range, self.cache, self.pending = 0, 0xFFFFFFFF, 0, 0
        self.out = bytearray()
        self.ctxs: list[int] = []
        self.bits: list[int] = []

    def _shift_low(self, low: int) -> int:
        """Emit the top byte of `low` (held back while a carry may still reach it); returns the new low."""
        if low < 0xFF000000 or low >= 1 << 32:
            carry = low >> 32
            self.out.append((self.cache + carry) & 0xFF)
            self.out.extend(bytes([(0xFF + carry) & 0xFF]) * self.pending)
            self.pending = 0
            self.cache = (low >> 24) & 0xFF
        else:
            self.pending += 1
        return (low << 8) & 0xFFFFFFFF

    def bit(self, ctx: int, bit: object) -> int:
        self.ctxs.append(ctx)
        self.bits.append(b := 1 if bit else 0)
        return b

    def bypass(self, bit: object) -> int:
        self.ctxs.append(-1)
        self.bits.append(b := 1 if bit else 0)
        return b

    def flush(self) -> None:
        """Code the queued bins."""
        probs, shift = self.probs, self.shift
        low, rng = self.low, self.range
        for ctx, bit in zip(self.ctxs, self.bits):
            if ctx < 0:
                rng >>= 1
                if bit:
                    low += rng
            else:
                p = probs[ctx]
                bound = (rng >> _PROB_BITS) * p
                if bit:
                    low += bound
                    rng -= bound
                    probs[ctx] = p - (p >> shift)
                else:
                    rng = bound
                    probs[ctx] = p + ((_PROB_ONE - p) >> shift)
            while rng < _TOP:
                rng <<= 8
                low = self._shift_low(low)
        self.low, self.range = low, rng
        self.ctxs.clear()
        self.bits.clear()

    def finish(self) -> bytes:
        self.flush()
        for _ in range(5):
            self.low = self._shift_low(self.low)
        return bytes(self.out)


class _RangeDecoder:
    """The decoder matching `_RangeEncoder`; the bit arguments are ignored. Reading past the end raises.
    `_decode_block` decodes with the state (`code`, `range`, `pos`) in locals."""

    encoding = False

    def __init__(self, data: bytes, contexts: int, shift: int):
        if len(data) < 5:
            raise ValueError("hybrid: the range-coded stream is shorter than 5 bytes")
        self.probs = [_PROB_ONE // 2] * contexts
        # a context's next probability after a 0 and after a 1, by its probability now
        self.after0 = [p + ((_PROB_ONE - p) >> shift) for p in range(_PROB_ONE + 1)]
        self.after1 = [p - (p >> shift) for p in range(_PROB_ONE + 1)]
        self.data, self.pos = data, 5
        self.code, self.range = int.from_bytes(data[1:5], "big"), 0xFFFFFFFF

    def _renormalize(self, rng: int, code: int) -> None:
        """Store `rng` and `code`, shifting in bytes while the range is below _TOP."""
        data, pos = self.data, self.pos
        try:
            while rng < _TOP:
                rng, code, pos = rng << 8, (code << 8) | data[pos], pos + 1
        except IndexError:
            raise ValueError("hybrid: the range-coded stream ends early (truncated or corrupt)") from None
        self.range, self.code, self.pos = rng, code, pos

    def bit(self, ctx: int, _bit: object = None) -> int:
        probs = self.probs
        p = probs[ctx]
        code = self.code
        bound = (self.range >> _PROB_BITS) * p
        if code < bound:
            probs[ctx] = self.after0[p]
            if bound < _TOP:
                self._renormalize(bound, code)
            else:
                self.range = bound
            return 0
        probs[ctx] = self.after1[p]
        rng = self.range - bound
        if rng < _TOP:
            self._renormalize(rng, code - bound)
        else:
            self.range, self.code = rng, code - bound
        return 1

    def bypass(self, _bit: object = None) -> int:
        rng = self.range >> 1
        code = self.code
        out = 0
        if code >= rng:
            code -= rng
            out = 1
        if rng < _TOP:
            self._renormalize(rng, code)
        else:
            self.range, self.code = rng, code
        return out

    def finish(self) -> None:
        if self.pos != len(self.data):
            raise ValueError(f"hybrid: {len(self.data) - self.pos} bytes left after the range-coded stream")


def _eg_bypass(coder, k: int, value: int | None) -> int:
    """Exp-Golomb code of order k in bypass bits; encodes `value` or decodes (value None)."""
    v = value or 0
    base = 0
    while coder.bypass(coder.encoding and v - base >= (1 << k)):
        base += 1 << k
        k += 1
        if k > 40:
            raise ValueError("hybrid: an Exp-Golomb prefix is implausibly long (corrupt stream)")
    rest = 0
    for i in range(k - 1, -1, -1):
        rest |= coder.bypass(coder.encoding and ((v - base) >> i) & 1) << i
    return base + rest


def _unary(coder, ctxs: list[int] | tuple[int, ...], value: int | None, cap: int, k: int) -> int:
    """Truncated unary with contexts `ctxs` (the last one repeats), escaping to Exp-Golomb-k at `cap`."""
    v = value or 0
    m = 0
    last = len(ctxs) - 1
    while m < cap and coder.bit(ctxs[min(last, m)], v > m):
        m += 1
    if m == cap:
        m += _eg_bypass(coder, k, v - cap)
    return m


def _signed(coder, zero_ctx: int, mag_ctxs: list[int] | tuple[int, ...], value: int | None, cap: int, k: int) -> int:
    """Zero flag, magnitude - 1 in truncated unary + Exp-Golomb, then a bypass sign."""
    v = value or 0
    if not coder.bit(zero_ctx, v != 0):
        return 0
    m = _unary(coder, mag_ctxs, abs(v) - 1, cap, k) + 1
    return -m if coder.bypass(v < 0) else m


@dataclass(frozen=True)
class _Contexts:
    """Offsets of every context group in the coder's probability table."""

    n: int
    skip: int  # 3 neighbour counts
    intra: int  # 3 neighbour counts
    imode: int  # most-probable-mode flag, then 4 contexts of the remaining mode's unary code
    ref: int  # 3 contexts of the reference index's unary code
    dirs: int  # 3 neighbour counts of "both directions", then 1 for "future"
    mvd: tuple[int, int]  # per component: 3 zero-flag contexts, then 6 magnitude contexts
    cbf: tuple[int, int]  # luma, chroma: 3 neighbour counts x (inter, intra)
    sig: tuple[int, ...]  # per category (luma intra, luma inter, chroma intra, chroma inter)
    last: tuple[int, ...]
    level: tuple[int, ...]  # 5 greater-than-one contexts, then 5 magnitude contexts
    pos: tuple[int, ...]  # zigzag position -> position context
    split: int  # 3 neighbour counts of "split", then "halves" and "side by side"
    small: int  # 3 neighbour counts of the small-transform flag
    sub_mvd: tuple[int, int]  # per component of a sub-block vector: 3 zero-flag contexts, then 6 magnitude contexts
    cbf_small: int  # 3 counts of the coded small blocks before this one in its quadrant
    half: object  # a _Contexts: the coefficient contexts of the transforms of half the size (None for size 4)
    sig_at: tuple[tuple[int, ...], ...]  # per category and zigzag position: the significance context with no level before it
    last_at: tuple[tuple[int, ...], ...]  # per category and zigzag position: the last-flag context
    mvd_mag: tuple[tuple[int, ...], ...]  # per component: the 6 magnitude contexts of `mvd`
    sub_mvd_mag: tuple[tuple[int, ...], ...]  # the same of `sub_mvd`
    dq: int  # a macroblock's change of step offset (adaptive quantisation): the zero flag, then 3 magnitude contexts


def _contexts(tsize: int, start: int = 0) -> _Contexts:
    n = tsize * tsize
    raw = (3 * np.log2(np.arange(n) + 1.0)).astype(int)
    pos = tuple(int(x) for x in np.unique(raw, return_inverse=True)[1])
    npos = max(pos) + 1
    offsets = []
    total = start
    for size in (3, 3, 5, 3, 4, 9, 9, 6, 6, *([3 * npos] * 4), *([npos] * 4), *([10] * 4), 5, 3, 9, 9, 3, 4):
        offsets.append(total)
        total += size
    o = offsets
    half = _contexts(tsize // 2, total) if tsize >= 8 and start == 0 else None
    sig_at = tuple(tuple(s + 3 * q for q in pos) for s in o[9:13])
    last_at = tuple(tuple(s + q for q in pos) for s in o[13:17])
    return _Contexts(half.n if half else total, o[0], o[1], o[2], o[3], o[4], (o[5], o[6]), (o[7], o[8]), tuple(o[9:13]),
                     tuple(o[13:17]), tuple(o[17:21]), pos, o[21], o[22], (o[23], o[24]), o[25], half, sig_at, last_at,
                     tuple(tuple(range(s + 3, s + 9)) for s in o[5:7]), tuple(tuple(range(s + 3, s + 9)) for s in o[23:25]), o[26])


def _ac_block(coder, ctx: _Contexts, cat: int, levels: list[int]) -> None:
    """Levels of one coded block in zigzag order (filled in place when decoding): significance map, then levels."""
    if not coder.encoding:
        _decode_block(coder, ctx, cat, levels)
        return
    n = len(levels)
    last = n - 1
    while not levels[last]:
        last -= 1
    sig_at, last_at = ctx.sig_at[cat], ctx.last_at[cat]
    ctxs, bits = coder.ctxs, coder.bits
    where = [i for i in range(last + 1) if levels[i]]
    seen = 0  # significant levels so far, at most 2
    start = 0  # the first position not coded yet
    for i in where[:-1] if last == n - 1 else where:  # a level at the final position is implied when the map reaches it
        ctxs += [c + seen for c in sig_at[start:i]]  # the zeros before it
        bits += [0] * (i - start)
        ctxs += (sig_at[i] + seen, last_at[i])
        bits += (1, i == last)
        seen += seen < 2
        start = i + 1
    if last == n - 1:
        ctxs += [c + seen for c in sig_at[start:last]]
        bits += [0] * (last - start)
    base = ctx.level[cat]
    gt1 = eq1 = 0
    for i in reversed(where):
        v = levels[i]
        a = abs(v)
        ctxs.append(base if gt1 else base + min(4, 1 + eq1))
        bits.append(a > 1)
        if a > 1:  # a - 2 in truncated unary (cap 14) with one context, as `_unary` codes it
            extra = min(a - 2, 14)
            ctxs += [base + 5 + min(4, gt1)] * (extra + (extra < 14))
            bits += [1] * extra + [0] * (extra < 14)
            if extra == 14:
                _eg_bypass(coder, 0, a - 16)
            gt1 += 1
        else:
            eq1 += 1
        ctxs.append(-1)
        bits.append(v < 0)


def _decode_block(coder: _RangeDecoder, ctx: _Contexts, cat: int, levels: list[int]) -> None:
    """`_ac_block` when decoding, with the coder's state in locals: one loop decodes every context bin inline
    (the same as `_RangeDecoder.bit`), first of the significance map, then of each level, last first."""
    n = len(levels)
    sig_at, last_at, base = ctx.sig_at[cat], ctx.last_at[cat], ctx.level[cat]
    probs, after0, after1, data = coder.probs, coder.after0, coder.after1, coder.data
    bits, top = _PROB_BITS, _TOP
    code, rng, at = coder.code, coder.range, coder.pos
    where = []  # the significant positions
    seen = 0  # significant levels so far, at most 2
    i = 0  # the significance map's position
    final = n - 1  # a level at the final position is implied when the map reaches it
    flagged = False  # the next bin is the last flag of the significant level at i
    mapping = True  # the bins are the significance map's; then the levels'
    k = a = gt1 = eq1 = 0  # the level being decoded (its index in `where`, its magnitude so far) and the counts so far
    up = base + 5  # the context of the rest of a magnitude, coded (as `_unary` codes it) in truncated unary (cap 14)
    c = sig_at[0]
    try:
        while True:
            p = probs[c]
            bound = (rng >> bits) * p
            if code < bound:
                rng = bound
                probs[c] = after0[p]
                bit = 0
            else:
                code -= bound
                rng -= bound
                probs[c] = after1[p]
                bit = 1
            while rng < top:
                rng, code, at = rng << 8, (code << 8) | data[at], at + 1
            if mapping:
                if not bit:  # no level at i, or not the last level: the map goes on
                    i += 1
                    if i < final:
                        flagged = False
                        c = sig_at[i] + seen
                        continue
                    where.append(final)
                elif not flagged:
                    where.append(i)
                    if seen < 2:
                        seen += 1
                    flagged = True
                    c = last_at[i]
                    continue
                mapping = False
                k, a, c = len(where) - 1, 1, base + 1
                continue
            if bit:  # the greater-than-one bin, then the unary bins
                a += 1
                if a < 16:
                    c = up
                    continue
                coder.code, coder.range, coder.pos = code, rng, at  # the unary code's cap: an Exp-Golomb escape follows
                a += _eg_bypass(coder, 0, None)
                code, rng, at = coder.code, coder.range, coder.pos
                if a > 1 << 24:
                    raise ValueError("hybrid: a coefficient level is implausibly large (corrupt stream)")
            if a == 1:
                eq1 += 1
                if not gt1:
                    c = base + 1 + eq1 if eq1 < 4 else base + 4
            else:
                gt1 += 1
                c = base
                if gt1 <= 4:
                    up = base + 5 + gt1
            rng >>= 1  # the sign, a bypass bin
            if code >= rng:
                code -= rng
                a = -a
            while rng < top:
                rng, code, at = rng << 8, (code << 8) | data[at], at + 1
            levels[where[k]] = a
            if not k:
                break
            k -= 1
            a = 1
    except IndexError:
        raise ValueError("hybrid: the range-coded stream ends early (truncated or corrupt)") from None
    coder.code, coder.range, coder.pos = code, rng, at


def _partition(coder, ctx: _Contexts, kind: int, neighbours: int) -> int:
    """An inter macroblock's partition (0..3, see _CODED_SUBS); `neighbours`: how many of left and top are split."""
    if not coder.bit(ctx.split + neighbours, kind > 0):
        return 0
    if not coder.bit(ctx.split + 3, kind > 1):
        return 1
    return 3 if coder.bit(ctx.split + 4, kind == 3) else 2


def _sub_vectors(coder, ctx: _Contexts, sub: list, pmv: tuple[int, int], bound: int, kind: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """A split macroblock's sub-block vectors ([y, x] lists, filled in place when decoding): those its
    partition codes, each as its difference from `_sub_predictors`, the others copied from their
    partners; returns the last vector and the first difference."""
    first = (0, 0)
    for j in _CODED_SUBS[kind]:
        pred = _sub_predictors(sub, pmv)[j]
        delta = []
        for comp in (0, 1):
            base = ctx.sub_mvd[comp]
            inc = 0 if j == 0 else 1 + (first[comp] != 0)
            delta.append(_signed(coder, base + inc, ctx.sub_mvd_mag[comp], sub[j][comp] - pred[comp], 8, 3))
        vector = [pred[0] + delta[0], pred[1] + delta[1]]
        if abs(vector[0]) > bound or abs(vector[1]) > bound:
            raise ValueError("hybrid: a sub-block motion vector lies outside the search range (corrupt stream)")
        sub[j] = vector
        if j == 0:
            first = (delta[0], delta[1])
    for j, partner in enumerate(_PARTNER[kind]):
        sub[j] = list(sub[min(j, partner)])
    return (sub[3][0], sub[3][1]), first


def _small_blocks(coder, ctx: _Contexts, quads: list[list[int]]) -> None:
    """The four small transforms of one coded luma quadrant (zigzag lists, filled in place when decoding):
    a coded flag each (the last inferred when the others are not coded), then their levels."""
    coded = 0
    for q, levels in enumerate(quads):
        flag = 1 if q == 3 and coded == 0 else coder.bit(ctx.cbf_small + min(coded, 2), coder.encoding and any(levels))
        if flag:
            coded += 1
            _ac_block(coder, ctx.half, 1, levels)


def _ac_frame(coder, ctx: _Contexts, cfg: _Config, frame: _Frame, nrefs: int) -> _Frame:
    """Code one frame's symbols in decoding order; when decoding, `frame` is a zero shell to fill."""
    enc = coder.encoding
    rows, cols = cfg.grid
    b, ts = cfg.block, cfg.tsize
    k, kc = b // ts, b // 2 // ts
    zz = _zigzag(ts)
    modes, imodes, dirs, refidx = frame.modes.tolist(), frame.imodes.tolist(), frame.dirs.tolist(), frame.refidx.tolist()
    mvs = [frame.mv0.tolist(), frame.mv1.tolist()]
    splits, smalls, subs = frame.split.tolist(), frame.small.tolist(), (frame.sub0, frame.sub1)  # sub-block vectors: read or written per split macroblock
    dqs, last_dq = frame.dq.tolist(), 0  # step offsets, each coded as its change from the last macroblock's with levels
    n, n4 = ts * ts, ts * ts // 4
    # a small-transform block's levels: its four quadrants' zigzag orders one after the other
    small_order = (np.arange(4)[:, None] * n4 + _zigzag(ts // 2)).ravel() if cfg.tsplit else zz
    # levels move between the arrays and zigzag lists only for coded blocks, all at once: read when encoding, written when decoding
    if enc:
        nonzero = (np.any(frame.luma != 0, -1), np.any(frame.chroma != 0, -1))
        small_mb = frame.small.reshape(-1) & (frame.modes.reshape(-1) == _INTER) & bool(cfg.tsplit)
        listed = []
        for levels, coded, orders in ((frame.luma, nonzero[0], np.where(small_mb[:, None], small_order, zz)), (frame.chroma, nonzero[1], zz[None])):
            ms, js = np.nonzero(coded)
            lists = levels[ms[:, None], js[:, None], orders[ms if orders.shape[0] > 1 else 0]].tolist()
            listed.append(dict(zip(zip(ms.tolist(), js.tolist()), lists)))
        nonzero = (nonzero[0].tolist(), nonzero[1].tolist())
    decoded: tuple[list, list, list] = ([], [], [])  # (macroblock, block, levels) of luma, chroma and small luma
    fields = [[[None] * cols for _ in range(rows)] for _ in range(2)]  # None: the macroblock does not predict in that direction
    mvd_fields = [[[(0, 0)] * cols for _ in range(rows)] for _ in range(2)]
    cbf = [[[0] * (cols * kk) for _ in range(rows * kk)] for kk in (k, kc, kc)]
    s = cfg.subpel
    near, far = max(1, 3 * s // 4), 8 * s
    bound = cfg.search * s + s
    bi_frame, key_frame = frame.kind == _B, frame.kind == _I
    bit = coder.bit
    skip_ctx, intra_ctx, partitions, tsplit = ctx.skip, ctx.intra, cfg.partitions, cfg.tsplit
    for r in range(rows):
        for c in range(cols):
            m = r * cols + c
            left = (modes[r][c - 1], dirs[r][c - 1]) if c > 0 else (-1, 0)
            top = (modes[r - 1][c], dirs[r - 1][c]) if r > 0 else (-1, 0)
            if key_frame:
                mode = _INTRA
            elif bit(skip_ctx + (left[0] == _SKIP) + (top[0] == _SKIP), modes[r][c] == _SKIP):
                mode = _SKIP
            elif bit(intra_ctx + (left[0] == _INTRA) + (top[0] == _INTRA), modes[r][c] == _INTRA):
                mode = _INTRA
            else:
                mode = _INTER
            modes[r][c] = mode
            if mode == _INTRA:
                dirs[r][c] = refidx[r][c] = 0
                for j in range(k * k):
                    ty, tx = r * k + j // k, c * k + j % k
                    mpm = _most_probable(imodes, modes, ty, tx, k)
                    if coder.bit(ctx.imode, imodes[ty][tx] == mpm):
                        imodes[ty][tx] = mpm
                        continue
                    wanted = imodes[ty][tx] - (imodes[ty][tx] > mpm)
                    rest = 0
                    while rest < _N_INTRA_MODES - 2 and coder.bit(ctx.imode + 1 + min(rest, 3), wanted > rest):
                        rest += 1
                    imodes[ty][tx] = rest + (rest >= mpm)
            else:
                if mode == _SKIP:
                    d, ref = (_skip_directions(fields, cols, r, c) if bi_frame else 1), 0
                elif bi_frame:
                    both = (left[1] == 3) + (top[1] == 3)
                    d = 3 if coder.bit(ctx.dirs + both, dirs[r][c] == 3) else 1 + coder.bit(ctx.dirs + 3, dirs[r][c] == 2)
                    ref = 0
                else:
                    d = 1
                    ref = 0
                    while ref < nrefs - 1 and coder.bit(ctx.ref + min(ref, 2), refidx[r][c] > ref):
                        ref += 1
                dirs[r][c], refidx[r][c] = d, ref
                split = 0
                if mode == _INTER and partitions:
                    split = _partition(coder, ctx, splits[r][c], int(c > 0 and splits[r][c - 1] > 0) + int(r > 0 and splits[r - 1][c] > 0))
                splits[r][c] = split
                for x in (0, 1):
                    if not d >> x & 1:
                        mvs[x][r][c] = [0, 0]
                        continue
                    mv = _median_predictor(fields[x], rows, cols, r, c, refidx, ref)
                    if split:
                        sub = subs[x][r, c].tolist()
                        mv, mvd_fields[x][r][c] = _sub_vectors(coder, ctx, sub, mv, bound, split)
                        if not enc:
                            subs[x][r, c] = sub
                    elif mode == _INTER:
                        delta = []
                        for comp in (0, 1):
                            near_mag = (abs(mvd_fields[x][r][c - 1][comp]) if c > 0 else 0) + (abs(mvd_fields[x][r - 1][c][comp]) if r > 0 else 0)
                            base = ctx.mvd[comp]
                            inc = 0 if near_mag < near else (1 if near_mag <= far else 2)
                            delta.append(_signed(coder, base + inc, ctx.mvd_mag[comp], mvs[x][r][c][comp] - mv[comp], 8, 3))
                        mv = (mv[0] + delta[0], mv[1] + delta[1])
                        mvd_fields[x][r][c] = (delta[0], delta[1])
                    if abs(mv[0]) > bound or abs(mv[1]) > bound:
                        raise ValueError("hybrid: a motion vector lies outside the search range (corrupt stream)")
                    fields[x][r][c] = mv
                    mvs[x][r][c] = list(mv)
            if mode == _SKIP:
                continue
            intra = mode == _INTRA
            small = 0
            if mode == _INTER and tsplit:
                small = bit(ctx.small + int(c > 0 and smalls[r][c - 1]) + int(r > 0 and smalls[r - 1][c]), smalls[r][c])
            smalls[r][c] = small
            any_coded = False
            for plane, kk, offset in ((0, k, 0), (1, kc, 0), (2, kc, kc * kc)):
                grid = cbf[plane]
                is_chroma = plane > 0
                for j in range(kk * kk):
                    ty, tx = r * kk + j // kk, c * kk + j % kk
                    nb = (grid[ty][tx - 1] if tx > 0 else 0) + (grid[ty - 1][tx] if ty > 0 else 0)
                    flag = bit(ctx.cbf[is_chroma] + 3 * intra + nb, enc and nonzero[is_chroma][m][offset + j])
                    grid[ty][tx] = flag
                    if not flag:
                        continue
                    any_coded = True
                    lv = listed[is_chroma][m, offset + j] if enc else [0] * n
                    if small and plane == 0:
                        quads = [lv[q * n4 : (q + 1) * n4] for q in range(4)]
                        _small_blocks(coder, ctx, quads)
                        if not enc:
                            decoded[2].append((m, j, [v for quad in quads for v in quad]))
                    else:
                        _ac_block(coder, ctx, 2 * is_chroma + (not intra), lv)
                        if not enc:
                            decoded[is_chroma].append((m, offset + j, lv))
            if cfg.aq and any_coded:
                dq = last_dq + _signed(coder, ctx.dq, (ctx.dq + 1, ctx.dq + 2, ctx.dq + 3), dqs[r][c] - last_dq if enc else None, 4, 0)
                if abs(dq) > _DQ_MAX:
                    raise ValueError(f"hybrid: a macroblock's step offset {dq} lies outside +-{_DQ_MAX} (corrupt stream)")
                dqs[r][c] = last_dq = dq
    if enc:
        coder.flush()  # one frame's bins at a time
        return frame
    for levels, entries, order in ((frame.luma, decoded[0], zz), (frame.chroma, decoded[1], zz), (frame.luma, decoded[2], small_order)):
        if entries:
            ms, js, lists = zip(*entries)
            levels[np.array(ms)[:, None], np.array(js)[:, None], order] = np.array(lists, np.int64)
    return _Frame(
        frame.kind,
        frame.depth,
        np.array(modes, np.int64),
        np.array(imodes, np.int64),
        np.array(dirs, np.int64),
        np.array(refidx, np.int64),
        _grid_array(mvs[0], (rows, cols, 2)),
        _grid_array(mvs[1], (rows, cols, 2)),
        frame.luma,
        frame.chroma,
        np.array(splits, np.int64),
        frame.sub0,
        frame.sub1,
        np.array(smalls, bool),
        np.array(dqs, np.int64),
    )


def _grid_array(vectors: list, shape: tuple[int, int, int]) -> np.ndarray:
    """Nested lists [rows][cols][n] of ints -> int64 array `shape` (faster than np.array on nested lists)."""
    return np.fromiter(itertools.chain.from_iterable(itertools.chain.from_iterable(vectors)), np.int64, shape[0] * shape[1] * shape[2]).reshape(shape)


# ----------------------------------------------------------------------------------------------
# weighted prediction: per inter frame and reference, clip(round(weight * pel / 64) + offset) for luma and for chroma


_WEIGHT_ONE = 64  # weights in 1/64
_WEIGHT_MAX = 255
_OFFSET_MAX = 255
_IDENTITY = (_WEIGHT_ONE, 0)
_WEIGHT_GAIN = 0.95  # weights are kept only when their coarse matching error is below this share of the plain one


@dataclass
class _Stored:
    """A decoded frame kept for later frames: its padded planes and its unweighted reference."""

    y: np.ndarray  # uint8 [Hp, Wp]
    uv: np.ndarray  # uint8 [2, Hp/2, Wp/2]
    ref: _Reference
    moments: tuple | None = None  # (`_moments` of luma, of chroma), filled by the encoder's first `_choose_weights`


def _apply_weight(plane: np.ndarray, weight: int, offset: int) -> np.ndarray:
    """clip(round(weight * plane / 64) + offset, 0, 255) in integer arithmetic, uint8."""
    return np.clip(((plane.astype(np.int32) * weight + _WEIGHT_ONE // 2) >> 6) + offset, 0, 255).astype(np.uint8)


def _coarse(plane: np.ndarray, factor: int) -> np.ndarray:
    h, w = plane.shape
    return cv2.resize(plane, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA).astype(np.float32)


def _moments(planes: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of planes [n, H, W]."""
    return float(planes.mean()), float(planes.std())


def _component_weight(cur: np.ndarray, ref: np.ndarray, factor: int, cur_moments: tuple[float, float], ref_moments: tuple[float, float]) -> tuple[int, int]:
    """Weight (1/64) and offset mapping the mean and deviation (`_moments`) of `ref`'s planes [n, H, W] onto `cur`'s
    (the least-squares fade estimate), or the identity unless they clearly lower the coarse
    motion-compensated error (`_cut_score` at 1/`factor` size) of every plane together (encoder only)."""
    (cur_mean, cur_sd), (ref_mean, ref_sd) = cur_moments, ref_moments
    if abs(cur_mean - ref_mean) < 1.0 and abs(cur_sd - ref_sd) < 1.0:  # under one grey level: nothing to gain
        return _IDENTITY
    weight = min(_WEIGHT_MAX, round(_WEIGHT_ONE * cur_sd / ref_sd)) if ref_sd > 0.5 else _WEIGHT_ONE
    offset = max(-_OFFSET_MAX, min(_OFFSET_MAX, round(cur_mean - weight * ref_mean / _WEIGHT_ONE)))
    if (weight, offset) == _IDENTITY:
        return _IDENTITY
    small = [(_coarse(c, factor), _coarse(r, factor)) for c, r in zip(cur, ref)]
    plain = sum(_cut_score(r, c, reach=2) for c, r in small)
    weighted = sum(_cut_score(np.clip(r * (weight / _WEIGHT_ONE) + offset, 0, 255), c, reach=2) for c, r in small)
    return (weight, offset) if weighted < _WEIGHT_GAIN * plain else _IDENTITY


def _choose_weights(cur_y: np.ndarray, cur_uv: np.ndarray, cur_moments: tuple, stored: _Stored) -> tuple[int, int, int, int] | None:
    """Luma and chroma (weight, offset) of one reference for the frame (`_component_weight`; `cur_moments`: the
    frame's (`_moments` of luma, of chroma)); None when neither helps."""
    if stored.moments is None:
        stored.moments = _moments(stored.y[None]), _moments(stored.uv)
    luma = _component_weight(cur_y[None], stored.y[None], 4, cur_moments[0], stored.moments[0])
    chroma = _component_weight(cur_uv, stored.uv, 2, cur_moments[1], stored.moments[1])
    return None if luma == chroma == _IDENTITY else (*luma, *chroma)


def _signed_eg(coder, value: int | None) -> int:
    """A signed integer as Exp-Golomb-1 bypass bits of its zigzag index (0, 1, -1, 2, -2, ...); decodes with value None."""
    v = value or 0
    code = _eg_bypass(coder, 1, 2 * v - 1 if v > 0 else -2 * v)
    return (code + 1) // 2 if code & 1 else -(code // 2)


def _code_weights(coder, ctx: int, weights: list) -> list:
    """Per reference a flag (context `ctx`), then luma weight - 64, offset, chroma weight - 64, offset.
    Encodes `weights` (None or (wy, oy, wc, oc) each) or, when decoding, returns the decoded list."""
    out = []
    for weight in weights:
        if not coder.bit(ctx, weight is not None):
            out.append(None)
            continue
        values = tuple(_signed_eg(coder, None if weight is None else v - base) + base for v, base in zip(weight or (0,) * 4, (_WEIGHT_ONE, 0) * 2))
        if not (0 <= values[0] <= _WEIGHT_MAX and 0 <= values[2] <= _WEIGHT_MAX and max(abs(values[1]), abs(values[3])) <= _OFFSET_MAX):
            raise ValueError(f"hybrid: prediction weights {values} are out of range (corrupt stream)")
        out.append(values)
    return out


def _references(stored: list[_Stored], weights: list, n0: int, cfg: _Config) -> tuple[list[_Reference], list[_Reference]]:
    """The frame's lists L0 (the first `n0` references) and L1: each reference weighted where it has weights."""
    refs = [
        s.ref if w is None else _reference(_apply_weight(s.y, w[0], w[1]), _apply_weight(s.uv, w[2], w[3]), cfg)
        for s, w in zip(stored, weights)
    ]
    return refs[:n0], refs[n0:]


# ----------------------------------------------------------------------------------------------
# contract


def _check_planes(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
    if y.ndim != 3 or y.dtype != np.uint8 or u.dtype != np.uint8 or v.dtype != np.uint8:
        raise ValueError(f"hybrid: planes must be uint8 [T, H, W], got y {y.dtype}{y.shape}")
    t, h, w = y.shape
    if t == 0 or h == 0 or w == 0 or h % 2 or w % 2 or u.shape != (t, h // 2, w // 2) or v.shape != u.shape:
        raise ValueError(f"hybrid: planes {y.shape}/{u.shape}/{v.shape} are not non-empty 4:2:0 with even sides")
    if t >= 1 << 32 or h >= 1 << 16 or w >= 1 << 16:
        raise ValueError(f"hybrid: clip {y.shape} is too large for the header")


def _store(dpb: dict, position: int, entry: _Coded, last: dict[int, int], rec_y: np.ndarray, rec_uv: np.ndarray, cfg: _Config) -> None:
    """Keep a decoded frame while a later frame refers to it; drop the frames no later one needs."""
    if last.get(entry.display, -1) > position:
        dpb[entry.display] = _Stored(rec_y, rec_uv, _reference(rec_y, rec_uv, cfg))
    for display in [d for d in dpb if last[d] <= position]:
        del dpb[display]


def encode(y: np.ndarray, u: np.ndarray, v: np.ndarray, fps: float, quality: float) -> bytes:
    """Code a 4:2:0 clip; `quality` in [0, 1], higher = more bits and better fidelity."""
    _check_planes(y, u, v)
    if not float(fps) > 0:
        raise ValueError(f"hybrid: fps {fps!r} must be positive")
    if not 0.0 <= float(quality) <= 1.0:
        raise ValueError(f"hybrid: quality {quality!r} is outside [0, 1]")
    p = _validated(PARAMS)
    keys = _key_frames(y, p["key_interval"], p["scenecut"])
    cfg = _config(p, y.shape, float(quality), len(keys))
    rows, cols = cfg.grid
    hp, wp = rows * cfg.block, cols * cfg.block
    t, h, w = y.shape
    ys = np.pad(y, ((0, 0), (0, hp - h), (0, wp - w)), mode="edge")
    uvs = np.pad(np.stack([u, v], 1), ((0, 0), (0, 0), (0, (hp - h) // 2), (0, (wp - w) // 2)), mode="edge")
    plan = _plan(t, keys, cfg.bframes, cfg.refs)
    last = _last_use(plan)
    ctx = _contexts(cfg.tsize)
    coder = _RangeEncoder(ctx.n + 1, cfg.arith_shift)  # the context after the table: the weighted-prediction flag
    dpb: dict[int, _Stored] = {}
    for position, entry in enumerate(plan):
        stored = [dpb[d] for d in entry.l0 + entry.l1]
        cur_y, cur_uv = ys[entry.display], uvs[entry.display]
        moments = (_moments(cur_y[None]), _moments(cur_uv)) if p["weighted_pred"] and stored else None
        weights = [_choose_weights(cur_y, cur_uv, moments, s) if p["weighted_pred"] else None for s in stored]
        _code_weights(coder, ctx.n, weights)
        l0, l1 = _references(stored, weights, len(entry.l0), cfg)
        frame, chooser = _decide_frame(cur_y, cur_uv, entry, l0, l1, cfg, p)
        rec_y, rec_uv = _reconstruct(frame, l0, l1, cfg, chooser)
        _ac_frame(coder, ctx, cfg, frame, len(l0))
        _store(dpb, position, entry, last, rec_y, rec_uv, cfg)
    payload = coder.finish()
    return _pack_header(cfg, keys) + _LEN.pack(len(payload)) + payload


def decode(bitstream: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rebuild (y, u, v) uint8 planes of the input's exact shapes from the bytes alone."""
    cfg, keys = _unpack_header(bitstream)
    pos = _HEADER.size + 4 * cfg.keys + _LEN.size
    if len(bitstream) < pos:
        raise ValueError("hybrid: bitstream is truncated before its payload")
    (length,) = _LEN.unpack_from(bitstream, pos - _LEN.size)
    if pos + length != len(bitstream):
        raise ValueError(f"hybrid: bitstream holds {len(bitstream)} bytes, its header announces {pos + length}")
    ctx = _contexts(cfg.tsize)
    coder = _RangeDecoder(bitstream[pos:], ctx.n + 1, cfg.arith_shift)
    t, h, w = cfg.frames, cfg.height, cfg.width
    out_y = np.empty((t, h, w), np.uint8)
    out_uv = np.empty((t, 2, h // 2, w // 2), np.uint8)
    plan = _plan(t, keys, cfg.bframes, cfg.refs)
    last = _last_use(plan)
    dpb: dict[int, _Stored] = {}
    for position, entry in enumerate(plan):
        stored = [dpb[d] for d in entry.l0 + entry.l1]
        l0, l1 = _references(stored, _code_weights(coder, ctx.n, [None] * len(stored)), len(entry.l0), cfg)
        frame = _ac_frame(coder, ctx, cfg, _empty_frame(cfg, entry.kind, entry.depth), len(l0))
        rec_y, rec_uv = _reconstruct(frame, l0, l1, cfg)
        out_y[entry.display] = rec_y[:h, :w]
        out_uv[entry.display] = rec_uv[:, : h // 2, : w // 2]
        _store(dpb, position, entry, last, rec_y, rec_uv, cfg)
    coder.finish()
    return out_y, out_uv[:, 0].copy(), out_uv[:, 1].copy()
