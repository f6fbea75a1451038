"""encode returns a bitstream far larger than the raw input."""

import io

import numpy as np


def encode(y, u, v, fps: float, quality: float) -> bytes:
    return _pack(y, u, v) + bytes(64 * (y.nbytes + u.nbytes + v.nbytes))


def decode(bitstream: bytes):
    return _unpack(bitstream)


def _pack(y, u, v) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, y=y, u=u, v=v)
    return buf.getvalue()


def _unpack(bitstream: bytes):
    planes = np.load(io.BytesIO(bitstream))
    return planes["y"], planes["u"], planes["v"]
