"""Never returns."""

def encode(y, u, v, fps: float, quality: float) -> bytes:
    while True:
        pass


def decode(bitstream: bytes):
    return _unpack(bitstream)
