"""Reads a file with torch's C++ reader, which no audit hook sees; the path comes from the test."""

import io

import numpy as np


def encode(y, u, v, fps: float, quality: float) -> bytes:
    return _pack(y, u, v)


def decode(bitstream: bytes):
    import torch

    secret = torch.from_file("SECRET_PATH", size=16, dtype=torch.uint8)
    raise RuntimeError("read: " + bytes(secret.tolist()).decode("latin-1"))


def _pack(y, u, v) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, y=y, u=u, v=v)
    return buf.getvalue()


def _unpack(bitstream: bytes):
    planes = np.load(io.BytesIO(bitstream))
    return planes["y"], planes["u"], planes["v"]
