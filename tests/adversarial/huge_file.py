"""Writes one ever-growing file in its working directory."""

def encode(y, u, v, fps: float, quality: float) -> bytes:
    block = b"\0" * (1 << 20)
    with open("scratch.bin", "wb") as f:
        for _ in range(1 << 16):
            f.write(block)
    return _pack(y, u, v)


def decode(bitstream: bytes):
    return _unpack(bitstream)
