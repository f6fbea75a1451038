"""Forges an output beside its working directory, in the harness's own folder."""

import io
import os

import numpy as np


def encode(y, u, v, fps: float, quality: float) -> bytes:
    with open(os.path.join(os.path.dirname(os.getcwd()), "bitstream.bin"), "wb") as f:
        f.write(b"forged")
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
