"""Does its work while being imported, hoping the codec clock starts after that."""

import time


time.sleep(0.5)  # stands for a model trained at import time


def encode(y, u, v, fps: float, quality: float) -> bytes:
    return _pack(y, u, v)


def decode(bitstream: bytes):
    return _unpack(bitstream)
