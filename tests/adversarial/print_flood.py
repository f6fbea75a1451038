"""Floods its stdout (80 MB) before returning a valid bitstream."""

import sys


def encode(y, u, v, fps: float, quality: float) -> bytes:
    line = "x" * 1023 + "\n"
    for _ in range(80 * 1024):
        sys.stdout.write(line)
    return _pack(y, u, v)


def decode(bitstream: bytes):
    return _unpack(bitstream)
