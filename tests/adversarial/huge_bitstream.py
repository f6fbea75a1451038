"""encode returns a bitstream far larger than the raw input."""

def encode(y, u, v, fps: float, quality: float) -> bytes:
    return _pack(y, u, v) + bytes(64 * (y.nbytes + u.nbytes + v.nbytes))


def decode(bitstream: bytes):
    return _unpack(bitstream)
