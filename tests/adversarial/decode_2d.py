"""decode returns 2-D planes (the first frame only)."""

def encode(y, u, v, fps: float, quality: float) -> bytes:
    return _pack(y, u, v)


def decode(bitstream: bytes):
    return tuple(p[0] for p in _unpack(bitstream))
