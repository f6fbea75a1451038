"""decode returns only two planes."""

def encode(y, u, v, fps: float, quality: float) -> bytes:
    return _pack(y, u, v)


def decode(bitstream: bytes):
    return _unpack(bitstream)[:2]
