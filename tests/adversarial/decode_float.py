"""decode returns float32 planes instead of uint8."""

import numpy as np


def encode(y, u, v, fps: float, quality: float) -> bytes:
    return _pack(y, u, v)


def decode(bitstream: bytes):
    return tuple(p.astype(np.float32) for p in _unpack(bitstream))
