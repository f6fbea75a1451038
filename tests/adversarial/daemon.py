"""Forks a daemon that would outlive the evaluation."""

import os
import time


def encode(y, u, v, fps: float, quality: float) -> bytes:
    if os.fork() == 0:
        os.setsid()
        time.sleep(3600)
    return _pack(y, u, v)


def decode(bitstream: bytes):
    return _unpack(bitstream)
