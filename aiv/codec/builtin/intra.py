"""Intra-only reference codec: every frame is coded on its own, like motion JPEG.

Each plane is padded to a multiple of 8, cut into 8x8 blocks, transformed with an orthonormal
DCT-II (a matrix product batched over all blocks), quantised with a JPEG-like frequency-weighted
step that shrinks exponentially as `quality` grows, reordered in zigzag, and compressed with lzma
in a position-major layout (every block's coefficient k together), which groups values of like
statistics. DC levels are coded as differences from the previous block's DC.

Contract: encode(y, u, v, fps, quality) -> bytes; decode(bitstream) -> (y, u, v).
"""

from __future__ import annotations

import lzma
import struct

import numpy as np

MAGIC = b"AIVI"
VERSION = 1
_HEADER = struct.Struct("<4sBIHHHH")  # magic, version, frames, height, width, luma step x16, chroma step x16
_LEN = struct.Struct("<I")
_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9, "lc": 1, "lp": 0, "pb": 0}]

# Quantisation step (in orthonormal-DCT units) at quality 0 and 1; geometric in between.
STEP_AT_Q0 = 128.0
STEP_AT_Q1 = 4.0
CHROMA_STEP_SCALE = 1.5

# JPEG Annex K luminance table, normalised so that its DC entry is 1.
_JPEG_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.float64,
)
# A gentle version of it: PSNR rewards flat quantisation, so the weighting is only a square root.
WEIGHTS = np.sqrt(_JPEG_LUMA / _JPEG_LUMA[0, 0])


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


def _zigzag(n: int) -> np.ndarray:
    order = sorted(((r, c) for r in range(n) for c in range(n)), key=lambda p: (p[0] + p[1], p[1] if (p[0] + p[1]) % 2 == 0 else p[0]))
    return np.array([r * n + c for r, c in order])


DCT = _dct_matrix(8)
ZIGZAG = _zigzag(8)
UNZIGZAG = np.argsort(ZIGZAG)


def _step_for(quality: float) -> int:
    """Luma quantisation step in 1/16 units for a quality in [0, 1] (monotone decreasing)."""
    step = STEP_AT_Q0 * (STEP_AT_Q1 / STEP_AT_Q0) ** quality
    return max(1, int(round(step * 16)))


def _blocks(plane: np.ndarray) -> tuple[np.ndarray, int, int]:
    """[T, H, W] -> float blocks [T*nby*nbx, 8, 8] of the plane padded to multiples of 8."""
    t, h, w = plane.shape
    ph, pw = -h % 8, -w % 8
    padded = np.pad(plane, ((0, 0), (0, ph), (0, pw)), mode="edge").astype(np.float64)
    nby, nbx = (h + ph) // 8, (w + pw) // 8
    blocks = padded.reshape(t, nby, 8, nbx, 8).transpose(0, 1, 3, 2, 4).reshape(-1, 8, 8)
    return blocks, nby, nbx


def _unblocks(blocks: np.ndarray, t: int, h: int, w: int) -> np.ndarray:
    nby, nbx = -(-h // 8), -(-w // 8)
    full = blocks.reshape(t, nby, nbx, 8, 8).transpose(0, 1, 3, 2, 4).reshape(t, nby * 8, nbx * 8)
    return np.clip(np.rint(full[:, :h, :w]), 0, 255).astype(np.uint8)


def _to_bytes(levels: np.ndarray) -> bytes:
    """Zigzag levels [N, 64] -> position-major int16 bytes, low and high byte planes apart."""
    flat = levels.T.astype(np.int16).ravel()
    unsigned = ((flat.astype(np.int32) << 1) ^ (flat.astype(np.int32) >> 31)).astype(np.uint16)
    return (unsigned & 0xFF).astype(np.uint8).tobytes() + (unsigned >> 8).astype(np.uint8).tobytes()


def _from_bytes(data: bytes, count: int) -> np.ndarray:
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size != 128 * count:
        raise ValueError(f"intra: coefficient data holds {raw.size} bytes, expected {128 * count}")
    n = raw.size // 2
    unsigned = raw[:n].astype(np.int32) | (raw[n:].astype(np.int32) << 8)
    signed = (unsigned >> 1) ^ -(unsigned & 1)
    return signed.reshape(64, count).T


def _code_plane(plane: np.ndarray, step16: int) -> bytes:
    blocks, _, _ = _blocks(plane)
    coeffs = np.einsum("ij,njk,lk->nil", DCT, blocks - 128.0, DCT).reshape(-1, 64)[:, ZIGZAG]
    steps = (WEIGHTS.ravel()[ZIGZAG] * step16 / 16.0)[None, :]
    levels = np.rint(coeffs / steps).astype(np.int64)
    if np.abs(levels).max(initial=0) > 16000:
        raise ValueError("intra: a quantised level overflows 16 bits")
    levels[1:, 0] -= levels[:-1, 0].copy()
    return lzma.compress(_to_bytes(levels), format=lzma.FORMAT_RAW, filters=_FILTERS)


def _decode_plane(data: bytes, t: int, h: int, w: int, step16: int) -> np.ndarray:
    count = t * (-(-h // 8)) * (-(-w // 8))
    try:
        raw = lzma.decompress(data, format=lzma.FORMAT_RAW, filters=_FILTERS)
    except lzma.LZMAError as exc:
        raise ValueError(f"intra: corrupt coefficient stream ({exc})") from exc
    levels = _from_bytes(raw, count)
    levels[:, 0] = np.cumsum(levels[:, 0])
    steps = (WEIGHTS.ravel()[ZIGZAG] * step16 / 16.0)[None, :]
    coeffs = (levels * steps)[:, UNZIGZAG].reshape(-1, 8, 8)
    blocks = np.einsum("ji,njk,kl->nil", DCT, coeffs, DCT) + 128.0
    return _unblocks(blocks, t, h, w)


def _check_planes(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
    if y.ndim != 3 or y.dtype != np.uint8 or u.dtype != np.uint8 or v.dtype != np.uint8:
        raise ValueError(f"intra: planes must be uint8 [T, H, W], got y {y.dtype}{y.shape}")
    t, h, w = y.shape
    if t == 0 or h == 0 or w == 0 or h % 2 or w % 2 or u.shape != (t, h // 2, w // 2) or v.shape != u.shape:
        raise ValueError(f"intra: planes {y.shape}/{u.shape}/{v.shape} are not non-empty 4:2:0 with even sides")


def encode(y: np.ndarray, u: np.ndarray, v: np.ndarray, fps: float, quality: float) -> bytes:
    """Code a 4:2:0 clip frame by frame; `quality` in [0, 1], higher = more bits."""
    _check_planes(y, u, v)
    if not 0.0 <= quality <= 1.0:
        raise ValueError(f"intra: quality {quality} is outside [0, 1]")
    t, h, w = y.shape
    luma16 = _step_for(quality)
    chroma16 = max(1, int(round(luma16 * CHROMA_STEP_SCALE)))
    streams = [_code_plane(y, luma16), _code_plane(u, chroma16), _code_plane(v, chroma16)]
    out = [_HEADER.pack(MAGIC, VERSION, t, h, w, luma16, chroma16)]
    for s in streams:
        out += [_LEN.pack(len(s)), s]
    return b"".join(out)


def decode(bitstream: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rebuild (y, u, v) uint8 planes from the bytes `encode` returned."""
    if len(bitstream) < _HEADER.size:
        raise ValueError(f"intra: bitstream of {len(bitstream)} bytes is shorter than its header")
    magic, version, t, h, w, luma16, chroma16 = _HEADER.unpack_from(bitstream, 0)
    if magic != MAGIC or version != VERSION:
        raise ValueError(f"intra: not an intra bitstream (magic {magic!r}, version {version})")
    if t == 0 or h == 0 or w == 0 or h % 2 or w % 2 or luma16 == 0 or chroma16 == 0:
        raise ValueError(f"intra: bad header (frames {t}, size {w}x{h}, steps {luma16}/{chroma16})")
    pos = _HEADER.size
    streams = []
    for _ in range(3):
        if pos + _LEN.size > len(bitstream):
            raise ValueError("intra: bitstream is truncated")
        (n,) = _LEN.unpack_from(bitstream, pos)
        pos += _LEN.size
        if pos + n > len(bitstream):
            raise ValueError("intra: bitstream is truncated")
        streams.append(bitstream[pos : pos + n])
        pos += n
    if pos != len(bitstream):
        raise ValueError(f"intra: {len(bitstream) - pos} unexpected bytes after the last stream")
    return (
        _decode_plane(streams[0], t, h, w, luma16),
        _decode_plane(streams[1], t, h // 2, w // 2, chroma16),
        _decode_plane(streams[2], t, h // 2, w // 2, chroma16),
    )
