"""encode returns a str, not bytes."""

def encode(y, u, v, fps: float, quality: float) -> bytes:
    return _pack(y, u, v).hex()


def decode(bitstream: bytes):
    return _unpack(bytes.fromhex(bitstream))
