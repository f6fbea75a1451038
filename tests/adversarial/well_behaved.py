"""A legitimate codec: the planes, losslessly compressed with zlib. It must round-trip exactly."""

import struct
import zlib

import numpy as np


def encode(y, u, v, fps: float, quality: float) -> bytes:
    header = struct.pack("<3I", *y.shape)
    return header + zlib.compress(y.tobytes() + u.tobytes() + v.tobytes(), 6)


def decode(bitstream: bytes):
    t, h, w = struct.unpack("<3I", bitstream[:12])
    raw = np.frombuffer(zlib.decompress(bitstream[12:]), dtype=np.uint8)
    luma, chroma = t * h * w, t * (h // 2) * (w // 2)
    y = raw[:luma].reshape(t, h, w)
    u = raw[luma:luma + chroma].reshape(t, h // 2, w // 2)
    v = raw[luma + chroma:].reshape(t, h // 2, w // 2)
    return y, u, v
