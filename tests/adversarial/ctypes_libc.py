"""Loads libc with ctypes to make system calls directly."""

import io
import ctypes

import numpy as np


def encode(y, u, v, fps: float, quality: float) -> bytes:
    ctypes.CDLL("libc.so.6").system(b"id > /tmp/aiv-pwned")
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
