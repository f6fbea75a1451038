"""Allocates 50 GB."""

import io

import numpy as np


def encode(y, u, v, fps: float, quality: float) -> bytes:
    hog = np.ones(50 * 1024**3, dtype=np.uint8)
    return _pack(y, u, v) + hog[:1].tobytes()


def decode(bitstream: bytes):
    return _unpack(bitstream)


def _pack(y, u, v) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, y=y, u=u, v=v)
    return buf.getvalue()


def _unpack(bitstream: bytes):
    planes = np.load(io.BytesIO(bitstream))
    return planes["y"], planes["u"], planes["v"]
