"""Reads a file with torch's C++ reader, which no audit hook sees; the path comes from the test."""

def encode(y, u, v, fps: float, quality: float) -> bytes:
    return _pack(y, u, v)


def decode(bitstream: bytes):
    import torch

    secret = torch.from_file("SECRET_PATH", size=16, dtype=torch.uint8)
    raise RuntimeError("read: " + bytes(secret.tolist()).decode("latin-1"))
