"""Writes its pid to pid.txt in its working directory, then sleeps for five minutes (a slow codec)."""

import os
import time


def encode(y, u, v, fps: float, quality: float) -> bytes:
    with open("pid.txt", "w") as f:
        f.write(str(os.getpid()))
    time.sleep(300)
    return b""


def decode(bitstream: bytes):
    raise NotImplementedError("never reached: encode does not return")
