"""Fills its working directory with many files, each below the file-size limit, then waits."""

import time


def encode(y, u, v, fps: float, quality: float) -> bytes:
    block = b"\0" * (1 << 20)
    for i in range(64):
        with open(f"scratch{i}.bin", "wb") as f:
            f.write(block)
    time.sleep(60)
    return _pack(y, u, v)


def decode(bitstream: bytes):
    return _unpack(bitstream)
