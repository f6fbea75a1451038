"""Allocates 50 GB."""

import numpy as np


def encode(y, u, v, fps: float, quality: float) -> bytes:
    hog = np.ones(50 * 1024**3, dtype=np.uint8)
    return _pack(y, u, v) + hog[:1].tobytes()


def decode(bitstream: bytes):
    return _unpack(bitstream)
