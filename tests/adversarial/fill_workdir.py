"""Fills its working directory with many files, each below the file-size limit, then waits."""

import io
import time

import numpy as np


def encode(y, u, v, fps: float, quality: float) -> bytes:
    block = b"\0" * (1 << 20)
    for i in range(64):
        with open(f"scratch{i}.bin", "wb") as f:
            f.write(block)
    time.sleep(60)
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
