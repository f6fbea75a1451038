"""Floods its stdout (80 MB) before returning a valid bitstream."""

import io
import sys

import numpy as np


def encode(y, u, v, fps: float, quality: float) -> bytes:
    line = "x" * 1023 + "\n"
    for _ in range(80 * 1024):
        sys.stdout.write(line)
    return _pack(y, u, v)


def decode(bitstream: bytes):
    return _unpack(bitstream)


def _pack(y, u, v) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, y=y, u=u, v=v)
    return buf.getvalue()


def _unpack(bitstream: bytes):
    planes = np.load(io.BytesIO(bitstream))
    return planes["y"], planes["u"], planes["v"]
