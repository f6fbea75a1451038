"""Reads a system file outside its working directory."""

def encode(y, u, v, fps: float, quality: float) -> bytes:
    return _pack(y, u, v) + open("/etc/passwd", "rb").read()


def decode(bitstream: bytes):
    return _unpack(bitstream)
