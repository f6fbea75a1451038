"""Carries data in its own source, as much as the module size limit allows; the test fills in the payload."""

import struct

import numpy as np

PAYLOAD = b"PAYLOAD"  # the test puts its payload here
HEADER = struct.Struct("<IIII")  # payload length, frames, height, width


def encode(y, u, v, fps: float, quality: float) -> bytes:
    return HEADER.pack(len(PAYLOAD), *y.shape) + y.tobytes() + u.tobytes() + v.tobytes()


def decode(bitstream: bytes):
    length, frames, height, width = HEADER.unpack_from(bitstream)
    if length != len(PAYLOAD):
        raise ValueError(f"the decoder's module carries {len(PAYLOAD)} bytes, the encoder's {length}")
    samples = np.frombuffer(bitstream, dtype=np.uint8, offset=HEADER.size)
    luma, chroma = frames * height * width, frames * (height // 2) * (width // 2)
    y = samples[:luma].reshape(frames, height, width)
    u = samples[luma:luma + chroma].reshape(frames, height // 2, width // 2)
    v = samples[luma + chroma:].reshape(frames, height // 2, width // 2)
    return y, u, v
