"""Forges an output beside its working directory, in the harness's own folder."""

import os


def encode(y, u, v, fps: float, quality: float) -> bytes:
    with open(os.path.join(os.path.dirname(os.getcwd()), "bitstream.bin"), "wb") as f:
        f.write(b"forged")
    return _pack(y, u, v)


def decode(bitstream: bytes):
    return _unpack(bitstream)
