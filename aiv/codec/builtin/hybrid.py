"""Hybrid reference codec: motion-compensated prediction plus a DCT residual, the search's seed.

Frames are padded to whole macroblocks. The first frame and every `key_interval`-th frame are key
frames (every macroblock intra); the others are P frames predicted from the previous decoded
frame. For each macroblock the encoder runs an exhaustive integer motion search (SSD from
OpenCV's template matcher, plus a rate term for the motion vector's distance from its median
predictor), refines it to half and quarter pel on an H.264-style six-tap (or bilinear)
interpolated reference, then picks by rate-distortion cost between inter (motion vector delta
plus residual), intra (flat prediction plus DCT) and skip (predicted motion vector, no
residual). Prediction may be overlapped (OBMC: each block blended with its neighbours' vectors
near its edges). Residuals are transformed with an orthonormal DCT, quantised with a dead zone
and a step that falls exponentially with `quality`, and transform blocks whose coefficients are
not worth their bits are zeroed. Reconstruction is integer-exact (integer inverse transform,
interpolation, OBMC and deblocking filter), so the encoder's reference equals the decoder's
output bit for bit.

Entropy coding is either a context-adaptive binary range coder (CABAC-like: significance map
with last flags, level bins with context from the block's levels so far, neighbour-conditioned
mode, vector and coded-block flags) or, as an alternative, streams split by kind (modes,
vector deltas, coded-block flags, coefficients grouped by frequency position) each compressed
with lzma, zlib or bz2. Every choice sits in PARAMS below; what the decoder needs is in the header.

Contract: encode(y, u, v, fps, quality) -> bytes; decode(bitstream) -> (y, u, v).
"""

import bz2
import lzma
import struct
import zlib
from dataclasses import astuple, dataclass

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
    "key_interval": 60,  # a key frame every this many frames, >= 1
    "q_min": 3.5,  # quantisation step at quality 1 (orthonormal DCT units), > 0
    "q_max": 120.0,  # quantisation step at quality 0, >= q_min
    "chroma_q_scale": 1.0,  # chroma step / luma step, > 0
    "key_q_scale": 0.7,  # key-frame step / P-frame step, > 0
    "freq_weight": 0.0,  # step grows by (1 + freq_weight) from DC to the highest frequency, 0..3
    "intra_rounding": 0.34,  # dead-zone rounding offset for intra blocks, 0..0.5
    "inter_rounding": 0.17,  # dead-zone rounding offset for inter blocks, 0..0.5
    "lambda_scale": 0.12,  # Lagrange multiplier / step^2 for every rate-distortion decision, > 0
    "coef_bit_cost": 5.0,  # estimated bits of a nonzero level besides its magnitude, > 0
    "intra_blocks": True,  # allow intra macroblocks in P frames
    "loop_filter": True,  # deblocking filter on transform block edges, in the prediction loop
    "lf_alpha": 2.0,  # edge threshold |p0 - q0| < lf_alpha * step, 0..7
    "lf_beta": 0.5,  # flatness threshold |p1 - p0| < lf_beta * step, 0..7
    "lf_tc": 0.25,  # largest correction per filtered edge / step (doubled on intra edges), 0..7
    "entropy": "arith",  # "arith" (context-adaptive binary range coder) or a stream compressor: "lzma", "zlib", "bz2"
    "arith_shift": 5,  # adaptation speed of the range coder's probabilities (smaller = faster), 3..7
    "lzma_lc": 1,  # lzma literal context bits, 0..4 (used when entropy is "lzma")
}
# --- end parameters ---

MAGIC = b"AIVH"
VERSION = 1
_HEADER = struct.Struct("<4sBIHHBBBBBBHHHHHBBBBBBBB")
_LEN = struct.Struct("<I")
_ENTROPY = ("arith", "lzma", "zlib", "bz2")
_INTERP = ("sixtap", "bilinear")
_N_STREAMS = 9  # modes, mvd y, mvd x, luma cbf, chroma cbf, intra luma, intra chroma, inter luma, inter chroma
_SKIP, _INTER, _INTRA = 0, 1, 2
_DCT_BITS = 12  # precision of the integer inverse DCT matrix
_SIXTAP = (1, -5, 20, 20, -5, 1)
_LZMA_MAX_DICT = 1 << 26


@dataclass(frozen=True)
class _Config:
    """Everything the decoder needs, exactly as written in the header."""

    frames: int
    height: int
    width: int
    block: int
    tsize: int
    search: int
    subpel: int
    interp: int
    obmc: int
    key_interval: int
    q16_key_y: int
    q16_key_c: int
    q16_p_y: int
    q16_p_c: int
    weight64: int
    loop_filter: int
    lf_alpha32: int
    lf_beta32: int
    lf_tc32: int
    entropy: int
    arith_shift: int
    lzma_lc: int

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
    "block_size", "transform_size", "search_range", "subpel", "interp", "obmc", "key_interval", "q_min", "q_max",
    "chroma_q_scale", "key_q_scale", "freq_weight", "intra_rounding", "inter_rounding", "lambda_scale",
    "coef_bit_cost", "intra_blocks", "loop_filter", "lf_alpha", "lf_beta", "lf_tc", "entropy", "arith_shift", "lzma_lc",
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
        "key_interval": _integer(params, "key_interval", 1, 65535),
        "intra_blocks": _choice(params, "intra_blocks", (True, False)),
        "loop_filter": _choice(params, "loop_filter", (True, False)),
        "entropy": _choice(params, "entropy", _ENTROPY),
        "arith_shift": _integer(params, "arith_shift", 3, 7),
        "lzma_lc": _integer(params, "lzma_lc", 0, 4),
    }
    if p["block_size"] % (2 * p["transform_size"]):
        raise ValueError(
            f"hybrid: PARAMS['block_size'] = {p['block_size']} must be a multiple of 2 * transform_size "
            f"({2 * p['transform_size']}) so chroma blocks hold whole transforms"
        )
    for key, lo, hi in (
        ("q_min", 0.25, 400.0),
        ("q_max", 0.25, 400.0),
        ("chroma_q_scale", 0.1, 8.0),
        ("key_q_scale", 0.1, 8.0),
        ("freq_weight", 0.0, 3.0),
        ("intra_rounding", 0.0, 0.5),
        ("inter_rounding", 0.0, 0.5),
        ("lambda_scale", 1e-4, 10.0),
        ("coef_bit_cost", 0.1, 64.0),
        ("lf_alpha", 0.0, 7.0),
        ("lf_beta", 0.0, 7.0),
        ("lf_tc", 0.0, 7.0),
    ):
        p[key] = _number(params, key, lo, hi)
    if p["q_min"] > p["q_max"]:
        raise ValueError(f"hybrid: PARAMS['q_min'] = {p['q_min']} exceeds PARAMS['q_max'] = {p['q_max']}")
    return p


def _config(p: dict, shape: tuple[int, int, int], quality: float) -> _Config:
    step = p["q_max"] * (p["q_min"] / p["q_max"]) ** quality

    def q16(x: float) -> int:
        return min(65535, max(1, int(round(x * 16))))

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
        key_interval=p["key_interval"],
        q16_key_y=q16(step * p["key_q_scale"]),
        q16_key_c=q16(step * p["key_q_scale"] * p["chroma_q_scale"]),
        q16_p_y=q16(step),
        q16_p_c=q16(step * p["chroma_q_scale"]),
        weight64=int(round(p["freq_weight"] * 64)),
        loop_filter=int(p["loop_filter"]),
        lf_alpha32=int(round(p["lf_alpha"] * 32)),
        lf_beta32=int(round(p["lf_beta"] * 32)),
        lf_tc32=int(round(p["lf_tc"] * 32)),
        entropy=_ENTROPY.index(p["entropy"]),
        arith_shift=p["arith_shift"],
        lzma_lc=p["lzma_lc"],
    )


def _pack_header(cfg: _Config) -> bytes:
    return _HEADER.pack(MAGIC, VERSION, *astuple(cfg))


def _unpack_header(data: bytes) -> _Config:
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
        and cfg.key_interval >= 1
        and min(cfg.q16_key_y, cfg.q16_key_c, cfg.q16_p_y, cfg.q16_p_c) >= 1
        and cfg.weight64 <= 192
        and cfg.loop_filter in (0, 1)
        and cfg.entropy < len(_ENTROPY)
        and 3 <= cfg.arith_shift <= 7
        and cfg.lzma_lc <= 4
    )
    if not ok:
        raise ValueError(f"hybrid: header holds invalid values {cfg}")
    return cfg


# ----------------------------------------------------------------------------------------------
# transform and quantisation


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


def _zigzag(n: int) -> np.ndarray:
    cells = sorted(((r, c) for r in range(n) for c in range(n)), key=lambda p: (p[0] + p[1], p[1] if (p[0] + p[1]) % 2 == 0 else p[0]))
    return np.array([r * n + c for r, c in cells])


def _weights(cfg: _Config) -> np.ndarray:
    """Integer frequency weights in 1/16 units, [ts*ts] in natural order (16 = flat)."""
    n = cfg.tsize
    s = np.add.outer(np.arange(n), np.arange(n)).ravel()
    return 16 + (cfg.weight64 * s * 16) // (64 * 2 * (n - 1))


def _steps(cfg: _Config, q16: int) -> np.ndarray:
    """Quantisation step per coefficient (natural order), float, for the encoder."""
    return q16 * _weights(cfg) / 256.0


def _forward(blocks: np.ndarray, ts: int) -> np.ndarray:
    """Orthonormal 2-D DCT of [..., ts, ts] float blocks, flattened to [..., ts*ts]."""
    d = _dct_matrix(ts)
    return (d @ blocks @ d.T).reshape(*blocks.shape[:-2], ts * ts)


def _quantise(coef: np.ndarray, steps: np.ndarray, rounding: float) -> np.ndarray:
    return (np.sign(coef) * np.floor(np.abs(coef) / steps + rounding)).astype(np.int64)


def _inverse(levels: np.ndarray, cfg: _Config, q16: int) -> np.ndarray:
    """Integer-exact dequantisation and inverse DCT of [N, ts*ts] levels -> [N, ts, ts] int residuals."""
    ts = cfg.tsize
    dint = np.rint(_dct_matrix(ts) * (1 << _DCT_BITS)).astype(np.int64)
    coef = (levels * (q16 * _weights(cfg))).reshape(-1, ts, ts)
    shift = 8 + 2 * _DCT_BITS
    return (dint.T @ coef @ dint + (1 << (shift - 1))) >> shift


def _bit_estimate(levels: np.ndarray, per_nonzero: float) -> np.ndarray:
    """Rough bits of each block of levels [..., n] (for decisions only)."""
    mag = np.abs(levels)
    return np.where(mag > 0, per_nonzero + 2.0 * np.log2(np.maximum(mag, 1)), 0.0).sum(-1)


def _code_blocks(coef: np.ndarray, steps: np.ndarray, rounding: float, lam: float, per_nonzero: float):
    """Quantise [..., n] coefficients, zeroing blocks not worth their bits.

    Returns (levels, distortion per block, estimated bits per block).
    """
    levels = _quantise(coef, steps, rounding)
    kept = ((coef - levels * steps) ** 2).sum(-1)
    dropped = (coef**2).sum(-1)
    bits = _bit_estimate(levels, per_nonzero) + 1.0
    drop = dropped <= kept + lam * bits
    levels[drop] = 0
    return levels, np.where(drop, dropped, kept), np.where(drop, 1.0, bits)


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
    """All sub-pel phases of a padded luma reference: int32 [subpel, subpel, H, W]."""
    r = ref.astype(np.int32)
    if subpel == 1:
        return r[None, None]
    h, w = r.shape
    if _INTERP[interp] == "bilinear":
        e = np.pad(r, ((0, 1), (0, 1)), mode="edge")
        a, b, c, d = e[:-1, :-1], e[:-1, 1:], e[1:, :-1], e[1:, 1:]
        s2 = subpel * subpel
        out = np.empty((subpel, subpel, h, w), np.int32)
        for fy in range(subpel):
            for fx in range(subpel):
                acc = (subpel - fx) * (subpel - fy) * a + fx * (subpel - fy) * b + (subpel - fx) * fy * c + fx * fy * d
                out[fy, fx] = (acc + s2 // 2) // s2
        return out
    e = np.pad(r, 3, mode="edge")
    # unnormalised half-pel sums: horizontal at (y, x + 1/2) and vertical at (y + 1/2, x)
    hs = sum(t * e[:, 1 + i : 1 + i + w] for i, t in enumerate(_SIXTAP))  # [h + 6, w]
    vs = sum(t * e[1 + i : 1 + i + h, 3 : 3 + w] for i, t in enumerate(_SIXTAP))
    js = sum(t * hs[1 + i : 1 + i + h] for i, t in enumerate(_SIXTAP))
    half = np.empty((2 * h + 1, 2 * w + 1), np.int32)
    half[0:-1:2, 0:-1:2] = r
    half[0:-1:2, 1::2] = np.clip((hs[3 : 3 + h] + 16) >> 5, 0, 255)
    half[1::2, 0:-1:2] = np.clip((vs + 16) >> 5, 0, 255)
    half[1::2, 1::2] = np.clip((js + 512) >> 10, 0, 255)
    half[-1, :] = half[-2, :]
    half[:, -1] = half[:, -2]
    if subpel == 2:
        return np.stack([np.stack([half[fy:-1:2, fx:-1:2] for fx in range(2)]) for fy in range(2)])
    out = np.empty((4, 4, h, w), np.int32)
    for fy in range(4):
        for fx in range(4):
            r0, c0 = fy // 2, fx // 2

            def at(dr: int, dc: int) -> np.ndarray:
                return half[r0 + dr : r0 + dr + 2 * h : 2, c0 + dc : c0 + dc + 2 * w : 2]

            if fy % 2 == 0 and fx % 2 == 0:
                out[fy, fx] = at(0, 0)
            elif fy % 2 == 0:
                out[fy, fx] = (at(0, 0) + at(0, 1) + 1) >> 1
            elif fx % 2 == 0:
                out[fy, fx] = (at(0, 0) + at(1, 0) + 1) >> 1
            elif (r0 + c0) % 2 == 0:  # diagonal quarter: mean of the two half-pel (not integer, not centre) corners
                out[fy, fx] = (at(0, 1) + at(1, 0) + 1) >> 1
            else:
                out[fy, fx] = (at(0, 0) + at(1, 1) + 1) >> 1
    return out


def _luma_pred(phases: np.ndarray, cfg: _Config, ys: np.ndarray, xs: np.ndarray, mvy: np.ndarray, mvx: np.ndarray) -> np.ndarray:
    """Luma prediction at frame coordinates (ys, xs) displaced by (mvy, mvx) in 1/subpel pel."""
    s = cfg.subpel
    shift = s.bit_length() - 1
    py = (ys + cfg.pad) * s + mvy
    px = (xs + cfg.pad) * s + mvx
    _, _, hr, wr = phases.shape
    index = (((py & (s - 1)) * s + (px & (s - 1))) * hr + (py >> shift)) * wr + (px >> shift)
    return phases.reshape(-1)[index]


def _chroma_pred(ref: np.ndarray, cfg: _Config, ys: np.ndarray, xs: np.ndarray, mvy: np.ndarray, mvx: np.ndarray) -> np.ndarray:
    """Bilinear chroma prediction of both planes [2, ...] from padded int32 refs [2, Hc, Wc].

    A luma vector in 1/subpel pel is the same number in 1/(2*subpel) chroma pel.
    """
    d = 2 * cfg.subpel
    padc = cfg.pad // 2
    py = (ys + padc) * d + mvy
    px = (xs + padc) * d + mvx
    iy, fy = py // d, py % d
    ix, fx = px // d, px % d
    a = ref[:, iy, ix]
    b = ref[:, iy, ix + 1]
    c = ref[:, iy + 1, ix]
    e = ref[:, iy + 1, ix + 1]
    acc = (d - fx) * (d - fy) * a + fx * (d - fy) * b + (d - fx) * fy * c + fx * fy * e
    return (acc + d * d // 2) // (d * d)


@dataclass
class _Reference:
    """A decoded frame ready to predict from."""

    phases: np.ndarray  # luma sub-pel phases of the padded frame
    chroma: np.ndarray  # int32 [2, Hc + 2*pad/2, Wc + 2*pad/2]


def _reference(y: np.ndarray, uv: np.ndarray, cfg: _Config) -> _Reference:
    padc = cfg.pad // 2
    return _Reference(
        phases=_luma_phases(np.pad(y, cfg.pad, mode="edge"), cfg.subpel, cfg.interp),
        chroma=np.pad(uv, ((0, 0), (padc, padc), (padc, padc)), mode="edge").astype(np.int32),
    )


def _spread(a: np.ndarray, size: int) -> np.ndarray:
    """Per-block values [rows, cols, ...] -> per-pixel [rows*size, cols*size, ...]."""
    return np.repeat(np.repeat(a, size, 0), size, 1)


def _mb_grids(cfg: _Config, mv: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-pixel luma and chroma vector maps from macroblock vectors [rows, cols, 2]."""
    b = cfg.block
    luma = _spread(mv, b)
    chroma = _spread(mv, b // 2)
    return luma[..., 0], luma[..., 1], chroma[..., 0], chroma[..., 1]


def _plain_predict(ref: _Reference, cfg: _Config, mv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Block motion compensation: luma [Hp, Wp] and chroma [2, Hp/2, Wp/2] for macroblock vectors."""
    ly, lx, cy, cx = _mb_grids(cfg, mv)
    return _plain_at(ref, cfg, 0, ly, lx), _plain_at(ref, cfg, 1, cy, cx)


def _obmc_ramp(size: int, edge_weight: int) -> np.ndarray:
    """Weight (1/16) of the nearer neighbour's prediction across a block: edge_weight at the edge, 0 past a quarter."""
    i = np.arange(size)
    d = np.minimum(i, size - 1 - i)
    reach = max(1, size // 4)
    return np.maximum(0, (reach - d) * edge_weight // reach)


def _predict(ref: _Reference, cfg: _Config, mv: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Motion-compensated luma and chroma; with OBMC, blended with the predictions of the nearer
    horizontal and vertical neighbours' vectors (blocks not `usable` lend their own vector)."""
    own = _plain_predict(ref, cfg, mv)
    if cfg.obmc == 0:
        return own
    mvp = np.pad(mv, ((1, 1), (1, 1), (0, 0)), mode="edge")
    ok = np.pad(usable, 1)[..., None]
    side = {name: np.where(ok[sl], mvp[sl], mv) for name, sl in (("l", np.s_[1:-1, :-2]), ("r", np.s_[1:-1, 2:]), ("t", np.s_[:-2, 1:-1]), ("b", np.s_[2:, 1:-1]))}
    rows, cols = usable.shape
    first_half = np.arange(cfg.block) < cfg.block // 2
    horizontal = np.where(np.tile(first_half, cols)[None, :, None], _spread(side["l"], cfg.block), _spread(side["r"], cfg.block))
    vertical = np.where(np.tile(first_half, rows)[:, None, None], _spread(side["t"], cfg.block), _spread(side["b"], cfg.block))
    blended = []
    for plane, scale in ((0, 1), (1, 2)):
        b = cfg.block // scale
        ramp = _obmc_ramp(b, cfg.obmc)
        wh = np.tile(ramp, cols)[None, :]
        wv = np.tile(ramp, rows)[:, None]
        preds = [own[plane]]
        for field in (horizontal, vertical):
            f = field[::scale, ::scale]
            preds.append(_plain_at(ref, cfg, plane, f[..., 0], f[..., 1]))
        blended.append(((16 - wh - wv) * preds[0] + wh * preds[1] + wv * preds[2] + 8) >> 4)
    return blended[0], blended[1]


def _plain_at(ref: _Reference, cfg: _Config, plane: int, mvy: np.ndarray, mvx: np.ndarray) -> np.ndarray:
    """Prediction of a whole luma (plane 0) or chroma (plane 1, both components) plane from per-pixel vectors."""
    h, w = mvy.shape
    ys, xs = np.arange(h)[:, None], np.arange(w)[None, :]
    if plane == 0:
        return _luma_pred(ref.phases, cfg, ys, xs, mvy, mvx)
    return _chroma_pred(ref.chroma, cfg, ys, xs, mvy, mvx)


def _median_predictor(mv: list, rows: int, cols: int, r: int, c: int) -> tuple[int, int]:
    """Median of the left, top and top-right (else top-left) vectors; the left one on the top row."""
    left = mv[r][c - 1] if c > 0 else (0, 0)
    if r == 0:
        return left
    top = mv[r - 1][c]
    corner = mv[r - 1][c + 1] if c + 1 < cols else (mv[r - 1][c - 1] if c > 0 else (0, 0))
    return (
        sorted((left[0], top[0], corner[0]))[1],
        sorted((left[1], top[1], corner[1]))[1],
    )


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
# frame reconstruction (shared by encoder and decoder, so both hold the same reference)


@dataclass
class _Frame:
    """The decoded symbols of one frame."""

    key: bool
    modes: np.ndarray  # [rows, cols] of _SKIP / _INTER / _INTRA
    mvs: np.ndarray  # [rows, cols, 2] int64, 1/subpel pel, zero for intra
    luma: np.ndarray  # [nMB, k*k, ts*ts] int64 levels, natural order
    chroma: np.ndarray  # [nMB, 2*kc*kc, ts*ts] int64 levels (U blocks then V blocks)


def _per_tblock(values: np.ndarray, rows: int, cols: int, k: int) -> np.ndarray:
    """Macroblock-major [nMB, k*k, ...] -> frame grid [rows*k, cols*k, ...]."""
    rest = values.shape[2:]
    return values.reshape(rows, cols, k, k, *rest).swapaxes(1, 2).reshape(rows * k, cols * k, *rest)


def _add_residual(pred: np.ndarray, levels: np.ndarray, cfg: _Config, q16: int, mb: int) -> np.ndarray:
    """pred [Hp, Wp] int + inverse-transformed levels [nMB, k*k, n] -> clipped int32 plane."""
    ts = cfg.tsize
    rows, cols = pred.shape[0] // mb, pred.shape[1] // mb
    blocks = _to_tblocks(pred, mb, ts).astype(np.int64)
    coded = np.any(levels != 0, axis=-1)
    if coded.any():
        blocks[coded] += _inverse(levels[coded], cfg, q16)
    return np.clip(_from_tblocks(blocks, rows, cols, mb, ts), 0, 255).astype(np.int32)


def _reconstruct(frame: _Frame, ref: _Reference | None, cfg: _Config) -> tuple[np.ndarray, np.ndarray]:
    """Decoded (padded) luma [Hp, Wp] and chroma [2, Hp/2, Wp/2] as uint8."""
    rows, cols = cfg.grid
    b, ts = cfg.block, cfg.tsize
    intra = frame.modes == _INTRA
    if ref is None:
        luma_pred = np.full((rows * b, cols * b), 128, np.int32)
        chroma_pred = np.full((2, rows * b // 2, cols * b // 2), 128, np.int32)
    else:
        luma_pred, chroma_pred = _predict(ref, cfg, frame.mvs, ~intra)
        luma_pred[_spread(intra, b)] = 128
        chroma_pred[:, _spread(intra, b // 2)] = 128
    qy, qc = (cfg.q16_key_y, cfg.q16_key_c) if frame.key else (cfg.q16_p_y, cfg.q16_p_c)
    y = _add_residual(luma_pred, frame.luma, cfg, qy, b)
    kc2 = frame.chroma.shape[1] // 2
    uv = np.stack([_add_residual(chroma_pred[i], frame.chroma[:, i * kc2 : (i + 1) * kc2], cfg, qc, b // 2) for i in range(2)])
    if cfg.loop_filter:
        k, kc = b // ts, b // 2 // ts
        mb_id = np.arange(rows * cols).reshape(rows, cols)
        for plane, q16, kk, coded in (
            (y, qy, k, np.any(frame.luma != 0, -1)),
            (uv[0], qc, kc, np.any(frame.chroma != 0, -1).reshape(-1, 2, kc * kc).any(1)),
            (uv[1], qc, kc, np.any(frame.chroma != 0, -1).reshape(-1, 2, kc * kc).any(1)),
        ):
            _deblock(plane, cfg, q16, _spread(intra, kk), _per_tblock(coded, rows, cols, kk), _spread(frame.mvs, kk), _spread(mb_id, kk))
    return y.astype(np.uint8), uv.astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# encoder decisions


def _integer_search(cur: np.ndarray, ref_padded: np.ndarray, cfg: _Config, lam: float) -> np.ndarray:
    """Rate-constrained full search: integer vectors [rows, cols, 2] in 1/subpel pel."""
    rows, cols = cfg.grid
    b, r, s, pad = cfg.block, cfg.search, cfg.subpel, cfg.pad
    n = 2 * r + 1
    costs = np.empty((rows, cols, n, n), np.float32)
    for by in range(rows):
        for bx in range(cols):
            y0, x0 = by * b + pad - r, bx * b + pad - r
            window = ref_padded[y0 : y0 + b + 2 * r, x0 : x0 + b + 2 * r]
            costs[by, bx] = cv2.matchTemplate(window, cur[by * b : by * b + b, bx * b : bx * b + b], cv2.TM_SQDIFF)
    offsets = np.arange(-r, r + 1) * s
    chosen = [[(0, 0)] * cols for _ in range(rows)]
    for by in range(rows):
        for bx in range(cols):
            py, px = _median_predictor(chosen, rows, cols, by, bx)
            total = costs[by, bx] + lam * (_mv_bits(offsets - py)[:, None] + _mv_bits(offsets - px)[None, :])
            iy, ix = np.unravel_index(int(np.argmin(total)), total.shape)
            chosen[by][bx] = (int(offsets[iy]), int(offsets[ix]))
    return np.array(chosen, np.int64).reshape(rows, cols, 2)


def _predictors(mv: np.ndarray, available: np.ndarray) -> np.ndarray:
    """Median predictors of a whole vector field (unavailable blocks count as zero)."""
    rows, cols = available.shape
    field = [[tuple(int(v) for v in mv[r, c]) if available[r, c] else (0, 0) for c in range(cols)] for r in range(rows)]
    return np.array([[_median_predictor(field, rows, cols, r, c) for c in range(cols)] for r in range(rows)], np.int64).reshape(rows, cols, 2)


def _block_sum(err: np.ndarray, b: int) -> np.ndarray:
    h, w = err.shape[-2:]
    return err.reshape(*err.shape[:-2], h // b, b, w // b, b).sum((-3, -1))


def _refine(cur: np.ndarray, ref: _Reference, cfg: _Config, mv: np.ndarray, lam: float) -> np.ndarray:
    """Half- then quarter-pel refinement of every block's vector at once."""
    pred_mv = _predictors(mv, np.ones(mv.shape[:2], bool))
    hp, wp = cur.shape
    ys, xs = np.arange(hp)[:, None], np.arange(wp)[None, :]
    b = cfg.block
    step = cfg.subpel // 2
    while step >= 1:
        best_cost, best = None, mv
        for dy in (-step, 0, step):
            for dx in (-step, 0, step):
                cand = mv + np.array([dy, dx])
                ly, lx, _, _ = _mb_grids(cfg, cand)
                err = (_luma_pred(ref.phases, cfg, ys, xs, ly, lx) - cur) ** 2
                cost = _block_sum(err, b) + lam * _mv_bits(cand - pred_mv).sum(-1)
                if best_cost is None:
                    best_cost, best = cost, cand
                else:
                    better = cost < best_cost
                    best_cost = np.where(better, cost, best_cost)
                    best = np.where(better[..., None], cand, best)
        mv = best
        step //= 2
    return mv


def _transform_mb(residual_y: np.ndarray, residual_uv: np.ndarray, cfg: _Config) -> tuple[np.ndarray, np.ndarray]:
    """Residual planes -> DCT coefficients, macroblock-major [nMB, k*k, n] and [nMB, 2*kc*kc, n]."""
    b, ts = cfg.block, cfg.tsize
    cy = _forward(_to_tblocks(residual_y, b, ts), ts)
    cu = _forward(_to_tblocks(residual_uv[0], b // 2, ts), ts)
    cv = _forward(_to_tblocks(residual_uv[1], b // 2, ts), ts)
    return cy, np.concatenate([cu, cv], axis=1)


def _code_mb(cur_y, cur_uv, pred_y, pred_uv, cfg: _Config, qy: int, qc: int, rounding: float, lam: float, cost: float):
    """Transform and quantise every macroblock; returns (luma levels, chroma levels, D per MB, bits per MB)."""
    cy, cc = _transform_mb(cur_y - pred_y, cur_uv - pred_uv, cfg)
    ly, dy, by = _code_blocks(cy, _steps(cfg, qy), rounding, lam, cost)
    lc, dc, bc = _code_blocks(cc, _steps(cfg, qc), rounding, lam, cost)
    return ly, lc, dy.sum(-1) + dc.sum(-1), by.sum(-1) + bc.sum(-1)


def _decide_frame(cur_y, cur_uv, ref: _Reference | None, ref_y_padded, cfg: _Config, p: dict) -> _Frame:
    """Choose modes, vectors and levels for one frame."""
    rows, cols = cfg.grid
    b = cfg.block
    key = ref is None
    qy, qc = (cfg.q16_key_y, cfg.q16_key_c) if key else (cfg.q16_p_y, cfg.q16_p_c)
    lam = p["lambda_scale"] * (qy / 16.0) ** 2
    cost = p["coef_bit_cost"]
    cur_y = cur_y.astype(np.float64)
    cur_uv = cur_uv.astype(np.float64)
    intra = _code_mb(cur_y, cur_uv, 128.0, 128.0, cfg, qy, qc, p["intra_rounding"], lam, cost)
    if key:
        modes = np.full((rows, cols), _INTRA)
        return _Frame(True, modes, np.zeros((rows, cols, 2), np.int64), intra[0], intra[1])

    mv = _integer_search(cur_y.astype(np.uint8), ref_y_padded, cfg, lam)
    if cfg.subpel > 1:
        mv = _refine(cur_y, ref, cfg, mv, lam)
    pred_y, pred_uv = _predict(ref, cfg, mv, np.ones((rows, cols), bool))
    inter = _code_mb(cur_y, cur_uv, pred_y, pred_uv, cfg, qy, qc, p["inter_rounding"], lam, cost)
    j_inter = inter[2] + lam * (inter[3] + 2.0)
    j_intra = intra[2] + lam * (intra[3] + 3.0)
    use_intra = (j_intra < j_inter).reshape(rows, cols) if p["intra_blocks"] else np.zeros((rows, cols), bool)

    luma = np.where(use_intra.reshape(-1, 1, 1), intra[0], inter[0])
    chroma = np.where(use_intra.reshape(-1, 1, 1), intra[1], inter[1])
    coded = (np.any(luma != 0, (1, 2)) | np.any(chroma != 0, (1, 2))).reshape(rows, cols)
    j_inter = j_inter.reshape(rows, cols)
    modes = np.where(use_intra, _INTRA, _INTER)
    mv = np.where(use_intra[..., None], 0, mv)
    final = [[(0, 0)] * cols for _ in range(rows)]
    for r in range(rows):
        for c in range(cols):
            if modes[r, c] == _INTRA:
                continue
            pmv = _median_predictor(final, rows, cols, r, c)
            here = (int(mv[r, c, 0]), int(mv[r, c, 1]))
            skip = here == pmv and not coded[r, c]
            if not skip:
                ys, xs = np.arange(r * b, r * b + b)[:, None], np.arange(c * b, c * b + b)[None, :]
                cys, cxs = np.arange(r * b // 2, (r + 1) * b // 2)[:, None], np.arange(c * b // 2, (c + 1) * b // 2)[None, :]
                d_skip = ((_luma_pred(ref.phases, cfg, ys, xs, pmv[0], pmv[1]) - cur_y[r * b : r * b + b, c * b : c * b + b]) ** 2).sum()
                d_skip += ((_chroma_pred(ref.chroma, cfg, cys, cxs, pmv[0], pmv[1]) - cur_uv[:, cys, cxs]) ** 2).sum()
                skip = d_skip + lam <= j_inter[r, c]
            if skip:
                modes[r, c] = _SKIP
                mv[r, c] = pmv
                luma[r * cols + c] = 0
                chroma[r * cols + c] = 0
            final[r][c] = (int(mv[r, c, 0]), int(mv[r, c, 1]))
    return _Frame(False, modes, mv, luma, chroma)


# ----------------------------------------------------------------------------------------------
# entropy coding


def _pack(values: np.ndarray) -> bytes:
    """Signed integers -> [escape count][int32 escapes][one byte per value, 255 = escape]."""
    v = values.astype(np.int64).ravel()
    z = (v << 1) ^ (v >> 63)
    big = z >= 255
    out = np.where(big, 255, z).astype(np.uint8)
    escapes = v[big].astype("<i4")
    return _LEN.pack(int(big.sum())) + escapes.tobytes() + out.tobytes()


def _unpack(data: bytes) -> np.ndarray:
    if len(data) < _LEN.size:
        raise ValueError("hybrid: a stream is shorter than its escape count")
    (n,) = _LEN.unpack_from(data, 0)
    if _LEN.size + 4 * n > len(data):
        raise ValueError("hybrid: a stream's escapes run past its end")
    escapes = np.frombuffer(data, "<i4", n, _LEN.size).astype(np.int64)
    raw = np.frombuffer(data, np.uint8, offset=_LEN.size + 4 * n).astype(np.int64)
    values = (raw >> 1) ^ -(raw & 1)
    big = raw == 255
    if int(big.sum()) != n:
        raise ValueError(f"hybrid: a stream announces {n} escapes but holds {int(big.sum())}")
    values[big] = escapes
    return values


def _compress(data: bytes, cfg: _Config) -> bytes:
    name = _ENTROPY[cfg.entropy]
    if name == "lzma":
        return lzma.compress(data, format=lzma.FORMAT_RAW, filters=_lzma_filters(cfg, len(data)))
    if name == "zlib":
        return zlib.compress(data, 9)
    return bz2.compress(data, 9)


def _decompress(data: bytes, cfg: _Config) -> bytes:
    name = _ENTROPY[cfg.entropy]
    try:
        if name == "lzma":
            return lzma.decompress(data, format=lzma.FORMAT_RAW, filters=_lzma_filters(cfg, _LZMA_MAX_DICT))
        if name == "zlib":
            return zlib.decompress(data)
        return bz2.decompress(data)
    except (lzma.LZMAError, zlib.error, OSError, EOFError) as exc:
        raise ValueError(f"hybrid: corrupt {name} stream ({exc})") from exc


def _lzma_filters(cfg: _Config, size: int) -> list[dict]:
    """Raw LZMA2 settings; the dictionary just covers `size` bytes (a decoder may use a larger one)."""
    dict_size = min(_LZMA_MAX_DICT, max(1 << 16, 1 << max(0, size - 1).bit_length()))
    return [{"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": dict_size, "lc": cfg.lzma_lc, "lp": 0, "pb": 0}]


def _coef_layout(levels: np.ndarray, zigzag: np.ndarray) -> np.ndarray:
    """[N, n] natural-order levels -> position-major zigzag [n, N]."""
    return levels[:, zigzag].T


def _serialise(frames: list[_Frame], cfg: _Config) -> list[bytes]:
    """Symbols of all frames -> the raw (uncompressed) streams."""
    zz = _zigzag(cfg.tsize)
    modes, mvd, cbf_y, cbf_c = [], [], [], []
    groups: list[list[np.ndarray]] = [[], [], [], []]  # intra luma, intra chroma, inter luma, inter chroma
    for f in frames:
        rows, cols = f.modes.shape
        flat_modes = f.modes.reshape(-1)
        if not f.key:
            modes.append(flat_modes)
            avail = f.modes != _INTRA
            mvd.append((f.mvs - _predictors(f.mvs, avail)).reshape(-1, 2)[flat_modes == _INTER])
        coded_mb = flat_modes != _SKIP
        fy = np.any(f.luma != 0, -1)
        fc = np.any(f.chroma != 0, -1)
        cbf_y.append(fy[coded_mb].reshape(-1))
        cbf_c.append(fc[coded_mb].reshape(-1))
        intra = (flat_modes == _INTRA)[:, None]
        groups[0].append(f.luma[fy & intra])
        groups[1].append(f.chroma[fc & intra])
        groups[2].append(f.luma[fy & ~intra])
        groups[3].append(f.chroma[fc & ~intra])
    n = cfg.tsize**2
    coef = [np.concatenate(g) if g else np.zeros((0, n), np.int64) for g in groups]
    for g in (0, 1):  # intra DC as differences along the coding order
        coef[g][1:, 0] -= coef[g][:-1, 0].copy()
    cat = lambda parts, shape: np.concatenate(parts) if parts else np.zeros(shape, np.int64)  # noqa: E731
    mvd_all = cat(mvd, (0, 2))
    return [
        _pack(cat(modes, (0,))),
        _pack(mvd_all[:, 0]),
        _pack(mvd_all[:, 1]),
        _pack(cat(cbf_y, (0,))),
        _pack(cat(cbf_c, (0,))),
        *(_pack(_coef_layout(c, zz)) for c in coef),
    ]


class _Cursor:
    """Sequential reader over a decoded symbol array; running short is a corrupt stream."""

    def __init__(self, values: np.ndarray, name: str):
        self.values, self.name, self.pos = values, name, 0

    def take(self, n: int) -> np.ndarray:
        if self.pos + n > self.values.size:
            raise ValueError(f"hybrid: the {self.name} stream ends early")
        out = self.values[self.pos : self.pos + n]
        self.pos += n
        return out

    def finish(self) -> None:
        if self.pos != self.values.shape[0]:
            raise ValueError(f"hybrid: the {self.name} stream has {self.values.shape[0] - self.pos} symbols left over")


def _parse_frames(streams: list[np.ndarray], cfg: _Config) -> list[_Frame]:
    """Raw decoded streams -> the symbols of every frame."""
    rows, cols = cfg.grid
    nmb = rows * cols
    k2 = (cfg.block // cfg.tsize) ** 2
    kc2 = 2 * (cfg.block // 2 // cfg.tsize) ** 2
    n = cfg.tsize**2
    unzz = np.argsort(_zigzag(cfg.tsize))
    coef = []
    for g, values in enumerate(streams[5:]):
        if values.size % n:
            raise ValueError(f"hybrid: coefficient group {g} holds {values.size} levels, not a multiple of {n}")
        c = values.reshape(n, -1).T[:, unzz].copy()
        if g < 2:
            c[:, 0] = np.cumsum(c[:, 0])
        coef.append(_Cursor(c, f"coefficient group {g}"))
    modes_s, mvy_s, mvx_s = (_Cursor(streams[i], name) for i, name in enumerate(("mode", "vector y", "vector x")))
    cbf_y_s, cbf_c_s = _Cursor(streams[3], "luma flag"), _Cursor(streams[4], "chroma flag")
    bound = cfg.search * cfg.subpel + cfg.subpel
    frames = []
    for t in range(cfg.frames):
        key = t % cfg.key_interval == 0
        modes = np.full(nmb, _INTRA, np.int64) if key else modes_s.take(nmb)
        if np.any((modes < 0) | (modes > 2)):
            raise ValueError(f"hybrid: frame {t} holds an unknown block mode")
        mvs = np.zeros((rows, cols, 2), np.int64)
        if not key:
            n_inter = int((modes == _INTER).sum())
            d = np.stack([mvy_s.take(n_inter), mvx_s.take(n_inter)], 1).tolist()
            grid = modes.reshape(rows, cols)
            field = [[(0, 0)] * cols for _ in range(rows)]
            i = 0
            for r in range(rows):
                for c in range(cols):
                    if grid[r, c] == _INTRA:
                        continue
                    py, px = _median_predictor(field, rows, cols, r, c)
                    if grid[r, c] == _INTER:
                        py, px = py + d[i][0], px + d[i][1]
                        i += 1
                    if abs(py) > bound or abs(px) > bound:
                        raise ValueError(f"hybrid: frame {t} holds a motion vector outside the search range")
                    field[r][c] = (py, px)
            mvs = np.array(field, np.int64).reshape(rows, cols, 2)
        coded = modes != _SKIP
        fy = np.zeros((nmb, k2), bool)
        fc = np.zeros((nmb, kc2), bool)
        fy[coded] = cbf_y_s.take(int(coded.sum()) * k2).reshape(-1, k2) != 0
        fc[coded] = cbf_c_s.take(int(coded.sum()) * kc2).reshape(-1, kc2) != 0
        intra = (modes == _INTRA)[:, None]
        luma = np.zeros((nmb, k2, n), np.int64)
        chroma = np.zeros((nmb, kc2, n), np.int64)
        for target, flags, g_intra, g_inter in ((luma, fy, 0, 2), (chroma, fc, 1, 3)):
            target[flags & intra] = coef[g_intra].take(int((flags & intra).sum()))
            target[flags & ~intra] = coef[g_inter].take(int((flags & ~intra).sum()))
            if np.any(~np.any(target[flags] != 0, -1)):
                raise ValueError(f"hybrid: frame {t} flags a coded block whose levels are all zero")
        frames.append(_Frame(key, modes.reshape(rows, cols), mvs, luma, chroma))
    for cursor in (modes_s, mvy_s, mvx_s, cbf_y_s, cbf_c_s, *coef):
        cursor.finish()
    return frames


# ----------------------------------------------------------------------------------------------
# entropy coding: context-adaptive binary range coder


_PROB_BITS = 12
_PROB_ONE = 1 << _PROB_BITS
_TOP = 1 << 24


class _RangeEncoder:
    """Adaptive binary range encoder with LZMA's carry handling; `bit` and `bypass` return the bit."""

    encoding = True

    def __init__(self, contexts: int, shift: int):
        self.probs = [_PROB_ONE // 2] * contexts
        self.shift = shift
        self.low, self.range, self.cache, self.pending = 0, 0xFFFFFFFF, 0, 0
        self.out = bytearray()

    def _shift_low(self) -> None:
        low = self.low
        if low < 0xFF000000 or low >= 1 << 32:
            carry = low >> 32
            self.out.append((self.cache + carry) & 0xFF)
            self.out.extend(bytes([(0xFF + carry) & 0xFF]) * self.pending)
            self.pending = 0
            self.cache = (low >> 24) & 0xFF
        else:
            self.pending += 1
        self.low = (low << 8) & 0xFFFFFFFF

    def bit(self, ctx: int, bit: object) -> int:
        p = self.probs[ctx]
        bound = (self.range >> _PROB_BITS) * p
        if bit:
            self.low += bound
            self.range -= bound
            self.probs[ctx] = p - (p >> self.shift)
        else:
            self.range = bound
            self.probs[ctx] = p + ((_PROB_ONE - p) >> self.shift)
        while self.range < _TOP:
            self.range <<= 8
            self._shift_low()
        return 1 if bit else 0

    def bypass(self, bit: object) -> int:
        self.range >>= 1
        if bit:
            self.low += self.range
        while self.range < _TOP:
            self.range <<= 8
            self._shift_low()
        return 1 if bit else 0

    def finish(self) -> bytes:
        for _ in range(5):
            self._shift_low()
        return bytes(self.out)


class _RangeDecoder:
    """The decoder matching `_RangeEncoder`; the bit arguments are ignored. Reading past the end raises."""

    encoding = False

    def __init__(self, data: bytes, contexts: int, shift: int):
        if len(data) < 5:
            raise ValueError("hybrid: the range-coded stream is shorter than 5 bytes")
        self.probs = [_PROB_ONE // 2] * contexts
        self.shift = shift
        self.data, self.pos = data, 5
        self.code, self.range = int.from_bytes(data[1:5], "big"), 0xFFFFFFFF

    def _next(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError("hybrid: the range-coded stream ends early (truncated or corrupt)")
        self.pos += 1
        return self.data[self.pos - 1]

    def bit(self, ctx: int, _bit: object = None) -> int:
        p = self.probs[ctx]
        bound = (self.range >> _PROB_BITS) * p
        if self.code < bound:
            self.range = bound
            self.probs[ctx] = p + ((_PROB_ONE - p) >> self.shift)
            out = 0
        else:
            self.code -= bound
            self.range -= bound
            self.probs[ctx] = p - (p >> self.shift)
            out = 1
        while self.range < _TOP:
            self.range <<= 8
            self.code = (self.code << 8) | self._next()
        return out

    def bypass(self, _bit: object = None) -> int:
        self.range >>= 1
        out = 0
        if self.code >= self.range:
            self.code -= self.range
            out = 1
        while self.range < _TOP:
            self.range <<= 8
            self.code = (self.code << 8) | self._next()
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


def _unary(coder, ctxs: list[int], value: int | None, cap: int, k: int) -> int:
    """Truncated unary with contexts `ctxs` (the last one repeats), escaping to Exp-Golomb-k at `cap`."""
    v = value or 0
    m = 0
    last = len(ctxs) - 1
    while m < cap and coder.bit(ctxs[m if m < last else last], v > m):
        m += 1
    if m == cap:
        m += _eg_bypass(coder, k, v - cap)
    return m


def _signed(coder, zero_ctx: int, mag_ctxs: list[int], value: int | None, cap: int, k: int) -> int:
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
    skip: int
    intra: int
    mvd: tuple[int, int]  # per component: 3 zero-flag contexts, then 6 magnitude contexts
    cbf: tuple[int, int]  # luma, chroma: 3 neighbour counts x (inter, intra)
    dc: tuple[int, int]  # luma, chroma: zero flag then 8 magnitude contexts
    sig: tuple[int, ...]  # per category (luma intra, luma inter, chroma intra, chroma inter)
    last: tuple[int, ...]
    level: tuple[int, ...]  # 5 greater-than-one contexts, then 5 magnitude contexts
    pos: tuple[int, ...]  # zigzag position -> position context


def _contexts(tsize: int) -> _Contexts:
    n = tsize * tsize
    raw = (3 * np.log2(np.arange(n) + 1.0)).astype(int)
    pos = tuple(int(x) for x in np.unique(raw, return_inverse=True)[1])
    npos = max(pos) + 1
    offsets = []
    total = 0
    for size in (3, 3, 9, 9, 6, 6, 9, 9, *([3 * npos] * 4), *([npos] * 4), *([10] * 4)):
        offsets.append(total)
        total += size
    o = offsets
    return _Contexts(total, o[0], o[1], (o[2], o[3]), (o[4], o[5]), (o[6], o[7]), tuple(o[8:12]), tuple(o[12:16]), tuple(o[16:20]), pos)


def _ac_block(coder, ctx: _Contexts, cat: int, levels: list[int], start: int) -> None:
    """Levels of one coded block in zigzag order (filled in place when decoding): significance map, then levels."""
    n = len(levels)
    enc = coder.encoding
    last = max(i for i in range(start, n) if levels[i]) if enc else -1
    sig, lst, pos = ctx.sig[cat], ctx.last[cat], ctx.pos
    where = []
    i = start
    while i < n - 1:
        if coder.bit(sig + 3 * pos[i] + min(len(where), 2), enc and levels[i] != 0):
            where.append(i)
            if coder.bit(lst + pos[i], i == last):
                break
        i += 1
    else:
        where.append(n - 1)
    gt1 = eq1 = 0
    base = ctx.level[cat]
    for i in reversed(where):
        a = abs(levels[i])
        if coder.bit(base + (0 if gt1 else min(4, 1 + eq1)), a > 1):
            a = 2 + _unary(coder, [base + 5 + min(4, gt1)], a - 2, 14, 0)
            gt1 += 1
        else:
            a = 1
            eq1 += 1
        sign = coder.bypass(levels[i] < 0)
        if not enc:
            if a > 1 << 24:
                raise ValueError("hybrid: a coefficient level is implausibly large (corrupt stream)")
            levels[i] = -a if sign else a


def _ac_frame(coder, ctx: _Contexts, cfg: _Config, frame: _Frame) -> _Frame:
    """Code one frame's symbols in decoding order; when decoding, `frame` is a zero shell to fill."""
    enc = coder.encoding
    rows, cols = cfg.grid
    b, ts = cfg.block, cfg.tsize
    k, kc = b // ts, b // 2 // ts
    zz = _zigzag(ts)
    modes = frame.modes.tolist()
    mvs = frame.mvs.tolist()
    luma = frame.luma[:, :, zz].tolist()
    chroma = frame.chroma[:, :, zz].tolist()
    field = [[(0, 0)] * cols for _ in range(rows)]
    mvd_field = [[(0, 0)] * cols for _ in range(rows)]
    cbf = [[[0] * (cols * kk) for _ in range(rows * kk)] for kk in (k, kc, kc)]
    last_dc = [0, 0, 0]
    s = cfg.subpel
    near, far = max(1, 3 * s // 4), 8 * s
    bound = cfg.search * s + s
    for r in range(rows):
        for c in range(cols):
            m = r * cols + c
            if frame.key:
                mode = _INTRA
            else:
                left = modes[r][c - 1] if c > 0 else -1
                top = modes[r - 1][c] if r > 0 else -1
                if coder.bit(ctx.skip + (left == _SKIP) + (top == _SKIP), modes[r][c] == _SKIP):
                    mode = _SKIP
                elif coder.bit(ctx.intra + (left == _INTRA) + (top == _INTRA), modes[r][c] == _INTRA):
                    mode = _INTRA
                else:
                    mode = _INTER
            modes[r][c] = mode
            if mode != _INTRA:
                pred = _median_predictor(field, rows, cols, r, c)
                mv = pred
                if mode == _INTER:
                    d = []
                    for comp in (0, 1):
                        a = (abs(mvd_field[r][c - 1][comp]) if c > 0 else 0) + (abs(mvd_field[r - 1][c][comp]) if r > 0 else 0)
                        base = ctx.mvd[comp]
                        inc = 0 if a < near else (1 if a <= far else 2)
                        mags = [base + 3 + j for j in range(6)]
                        d.append(_signed(coder, base + inc, mags, mvs[r][c][comp] - pred[comp], 8, 3))
                    mv = (pred[0] + d[0], pred[1] + d[1])
                    mvd_field[r][c] = (d[0], d[1])
                if abs(mv[0]) > bound or abs(mv[1]) > bound:
                    raise ValueError("hybrid: a motion vector lies outside the search range (corrupt stream)")
                field[r][c] = mv
                mvs[r][c] = list(mv)
            if mode == _SKIP:
                continue
            intra = mode == _INTRA
            start = 1 if intra else 0
            for plane, blocks, kk, offset in ((0, luma[m], k, 0), (1, chroma[m], kc, 0), (2, chroma[m], kc, kc * kc)):
                grid = cbf[plane]
                is_chroma = plane > 0
                for j in range(kk * kk):
                    lv = blocks[offset + j]
                    if intra:
                        dc = _signed(coder, ctx.dc[is_chroma], [ctx.dc[is_chroma] + 1 + i for i in range(8)], lv[0] - last_dc[plane], 14, 0)
                        lv[0] = last_dc[plane] = last_dc[plane] + dc
                    ty, tx = r * kk + j // kk, c * kk + j % kk
                    nb = (grid[ty][tx - 1] if tx > 0 else 0) + (grid[ty - 1][tx] if ty > 0 else 0)
                    flag = coder.bit(ctx.cbf[is_chroma] + 3 * intra + nb, enc and any(lv[start:]))
                    grid[ty][tx] = flag
                    if flag:
                        _ac_block(coder, ctx, 2 * is_chroma + (not intra), lv, start)
    if enc:
        return frame
    unzz = np.argsort(zz)
    return _Frame(
        frame.key,
        np.array(modes, np.int64),
        np.array(mvs, np.int64).reshape(rows, cols, 2),
        np.array(luma, np.int64)[:, :, unzz],
        np.array(chroma, np.int64)[:, :, unzz],
    )


def _ac_encode(frames: list[_Frame], cfg: _Config) -> bytes:
    ctx = _contexts(cfg.tsize)
    coder = _RangeEncoder(ctx.n, cfg.arith_shift)
    for f in frames:
        _ac_frame(coder, ctx, cfg, f)
    return coder.finish()


def _ac_decode(data: bytes, cfg: _Config) -> list[_Frame]:
    ctx = _contexts(cfg.tsize)
    coder = _RangeDecoder(data, ctx.n, cfg.arith_shift)
    rows, cols = cfg.grid
    nmb = rows * cols
    k2, kc2, n = (cfg.block // cfg.tsize) ** 2, 2 * (cfg.block // 2 // cfg.tsize) ** 2, cfg.tsize**2
    frames = []
    for t in range(cfg.frames):
        shell = _Frame(
            t % cfg.key_interval == 0,
            np.zeros((rows, cols), np.int64),
            np.zeros((rows, cols, 2), np.int64),
            np.zeros((nmb, k2, n), np.int64),
            np.zeros((nmb, kc2, n), np.int64),
        )
        frames.append(_ac_frame(coder, ctx, cfg, shell))
    coder.finish()
    return frames


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


def encode(y: np.ndarray, u: np.ndarray, v: np.ndarray, fps: float, quality: float) -> bytes:
    """Code a 4:2:0 clip; `quality` in [0, 1], higher = more bits and better fidelity."""
    _check_planes(y, u, v)
    if not float(fps) > 0:
        raise ValueError(f"hybrid: fps {fps!r} must be positive")
    if not 0.0 <= float(quality) <= 1.0:
        raise ValueError(f"hybrid: quality {quality!r} is outside [0, 1]")
    p = _validated(PARAMS)
    cfg = _config(p, y.shape, float(quality))
    rows, cols = cfg.grid
    hp, wp = rows * cfg.block, cols * cfg.block
    t, h, w = y.shape
    ys = np.pad(y, ((0, 0), (0, hp - h), (0, wp - w)), mode="edge")
    uvs = np.pad(np.stack([u, v], 1), ((0, 0), (0, 0), (0, (hp - h) // 2), (0, (wp - w) // 2)), mode="edge")
    frames, ref, ref_y_padded = [], None, None
    for i in range(t):
        key = i % cfg.key_interval == 0
        frame = _decide_frame(ys[i], uvs[i], None if key else ref, ref_y_padded, cfg, p)
        frames.append(frame)
        rec_y, rec_uv = _reconstruct(frame, None if key else ref, cfg)
        ref = _reference(rec_y, rec_uv, cfg)
        ref_y_padded = np.pad(rec_y, cfg.pad, mode="edge")
    if _ENTROPY[cfg.entropy] == "arith":
        streams = [_ac_encode(frames, cfg)]
    else:
        streams = [_compress(s, cfg) for s in _serialise(frames, cfg)]
    return _pack_header(cfg) + b"".join(_LEN.pack(len(s)) for s in streams) + b"".join(streams)


def decode(bitstream: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rebuild (y, u, v) uint8 planes of the input's exact shapes from the bytes alone."""
    cfg = _unpack_header(bitstream)
    arith = _ENTROPY[cfg.entropy] == "arith"
    count = 1 if arith else _N_STREAMS
    pos = _HEADER.size + count * _LEN.size
    if len(bitstream) < pos:
        raise ValueError("hybrid: bitstream is truncated inside its stream table")
    lengths = [_LEN.unpack_from(bitstream, _HEADER.size + i * _LEN.size)[0] for i in range(count)]
    if pos + sum(lengths) != len(bitstream):
        raise ValueError(f"hybrid: bitstream holds {len(bitstream)} bytes, its table announces {pos + sum(lengths)}")
    if arith:
        frames = _ac_decode(bitstream[pos:], cfg)
    else:
        streams = []
        for n in lengths:
            streams.append(_unpack(_decompress(bitstream[pos : pos + n], cfg)))
            pos += n
        frames = _parse_frames(streams, cfg)
    t, h, w = cfg.frames, cfg.height, cfg.width
    out_y = np.empty((t, h, w), np.uint8)
    out_uv = np.empty((t, 2, h // 2, w // 2), np.uint8)
    ref = None
    for i, frame in enumerate(frames):
        rec_y, rec_uv = _reconstruct(frame, None if frame.key else ref, cfg)
        out_y[i] = rec_y[:h, :w]
        out_uv[i] = rec_uv[:, : h // 2, : w // 2]
        ref = _reference(rec_y, rec_uv, cfg)
    return out_y, out_uv[:, 0].copy(), out_uv[:, 1].copy()
