"""`aiv serve`'s HTTP server against malformed requests: a 4xx for each, no trace, and it keeps serving.

A real server on 127.0.0.1 and raw bytes over a socket, so requests no HTTP client would send arrive
as written.
"""

from __future__ import annotations

import logging
import socket
import threading

import pytest

from aiv.store import open_local_store
from aiv.web.app import Dashboard
from aiv.web.server import RangeNotSatisfiable, make_server, parse_range

ARTIFACT = b"0123456789" * 100
KEY = "previews/clip.mp4"
HUGE = "9" * 5000  # more digits than int() converts by default (4300)


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> int:
    experiments, artifacts = open_local_store(tmp_path_factory.mktemp("lab"))
    artifacts.put(KEY, ARTIFACT)
    server = make_server(Dashboard(experiments, artifacts), artifacts, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes, return everything the server answers until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def status(answer: bytes) -> int:
    line = answer.split(b"\r\n", 1)[0].split()
    assert line[:1] in ([b"HTTP/1.1"], [b"HTTP/1.0"]), f"no status line: {answer[:80]!r}"
    return int(line[1])


def get(path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: test", *headers, "Connection: close", "", ""]
    return "\r\n".join(lines).encode()


MALFORMED = [
    ("Range of 5000 digits", get(f"/artifacts/{KEY}", f"Range: bytes={HUGE}-"), 416),
    ("Range end of 5000 digits", get(f"/artifacts/{KEY}", f"Range: bytes=0{HUGE}-"), 416),
    (
        "Range of bytes that are no text",
        f"GET /artifacts/{KEY} HTTP/1.1\r\nRange: ".encode() + b"\xff\xfe\r\nConnection: close\r\n\r\n",
        416,
    ),
    ("Range of garbage", get(f"/artifacts/{KEY}", "Range: bytes=five-ten"), 416),
    ("Range without a span", get(f"/artifacts/{KEY}", "Range: bytes=-"), 416),
    ("Range of non-ASCII digits", get(f"/artifacts/{KEY}", "Range: bytes=\u0661\u0662-"), 416),
    ("Range without a unit", get(f"/artifacts/{KEY}", "Range: 0-5"), 416),
    ("unknown method", b"FROB / HTTP/1.1\r\nConnection: close\r\n\r\n", 501),
    ("write method", b"DELETE / HTTP/1.1\r\nConnection: close\r\n\r\n", 405),
    ("request line without a path", b"GET\r\n\r\n", 400),
    ("unsupported HTTP version", b"GET / HTTP/9.9\r\nConnection: close\r\n\r\n", 505),
    ("path of 70000 bytes", get("/" + "a" * 70000), 414),
    ("path with a NUL byte", get("/artifacts/a%00b.mp4"), 404),
    ("path with invalid UTF-8", get("/experiments/%ff%fe"), 404),
    ("path that climbs out", get("/artifacts/..%2f..%2fetc%2fpasswd"), 404),
    ("query with invalid bytes", get("/experiments?sort=%ff&status=%00"), 400),
    ("200 headers", b"GET / HTTP/1.1\r\n" + b"X-Filler: y\r\n" * 200 + b"\r\n", 431),
]


@pytest.mark.parametrize(("name", "request_bytes", "expected"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_request_gets_a_4xx_and_the_server_keeps_serving(
    name: str, request_bytes: bytes, expected: int, port: int, capsys, caplog
) -> None:
    with caplog.at_level(logging.INFO, logger="aiv.web.server"):
        assert status(exchange(port, request_bytes)) == expected
        assert status(exchange(port, get("/"))) == 200
        assert exchange(port, get(f"/artifacts/{KEY}", "Range: bytes=0-9")).endswith(ARTIFACT[:10])
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]
    assert "Traceback" not in capsys.readouterr().err


def test_ranges_that_are_valid_but_not_honoured_send_the_whole_file(port: int) -> None:
    for header in ("Range: bytes=0-1,5-6", "Range: items=0-5", f"Range: bytes=-{HUGE}"):
        answer = exchange(port, get(f"/artifacts/{KEY}", header))
        assert status(answer) in (200, 206) and answer.endswith(ARTIFACT), header


@pytest.mark.parametrize(
    ("header", "expected"),
    [(f"bytes=0-{HUGE}", (0, 999)), (f"bytes=-{HUGE}", (0, 999)), (f"bytes=00000{'0' * 5000}7-8", (7, 8))],
)
def test_parse_range_reads_positions_of_any_length(header: str, expected: tuple[int, int]) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", [f"bytes={HUGE}-", f"bytes={HUGE}-{HUGE}", "bytes=x-", "=0-1", "0-1"])
def test_parse_range_refuses_malformed_or_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)
