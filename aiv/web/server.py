"""The local dashboard server: `http.server` around the Dashboard, plus `/artifacts/<key>` from a local folder.

On AWS artifact links are presigned S3 URLs; locally `LocalArtifactStore.url` points at
`/artifacts/<key>`, served here from the file with HTTP Range support so <video> can seek.
"""

from __future__ import annotations

import logging
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from aiv.store.local_artifacts import LocalArtifactStore
from aiv.store.ports import ArtifactStore
from aiv.web.app import SECURITY_HEADERS, Dashboard, Request

log = logging.getLogger("aiv.web.server")

ARTIFACT_PREFIX = "/artifacts/"
ARTIFACT_TYPES = {
    ".mp4": "video/mp4",
    ".json": "application/json",
    ".py": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".y4m": "application/octet-stream",
}
ARTIFACT_CACHE = "max-age=300"
CHUNK = 1 << 16
POSITION_DIGITS = 18  # every byte position up to 10**18 - 1 (an exabyte) is read as a number


class RangeNotSatisfiable(Exception):
    """A Range header that selects no byte of the file."""


def artifact_type(key: str) -> str:
    """The Content-Type of an artifact by its extension; anything unknown is an opaque download."""
    return ARTIFACT_TYPES.get(Path(key).suffix.lower(), "application/octet-stream")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte span one `bytes=` range selects in a file of `size` bytes.

    None means "send the whole file": no header, or one this server does not honour (another
    unit, or several ranges, which RFC 9110 allows it to ignore). RangeNotSatisfiable when the
    header is malformed or selects nothing.
    """
    if not header:
        return None
    unit, equals, ranges = header.partition("=")
    if equals and unit.strip().lower() != "bytes" and re.fullmatch(r"\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+\s*", unit):
        return None
    if equals and "," in ranges:
        return None
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header, flags=re.ASCII)
    if not match or match.groups() == ("", ""):
        raise RangeNotSatisfiable(header)
    first, last = (_position(digits) for digits in match.groups())
    if first is None:  # the last N bytes
        if last == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - last), size - 1
    start = first
    end = min(last, size - 1) if last is not None else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(header)
    return start, end


def _position(digits: str) -> int | None:
    """A byte position of a Range header; positions past any file (however many digits) become sys.maxsize."""
    if not digits:
        return None
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= POSITION_DIGITS else sys.maxsize


class DashboardHandler(BaseHTTPRequestHandler):
    """One request: artifacts from the local folder, everything else through the Dashboard."""

    dashboard: Dashboard
    artifacts: ArtifactStore
    server_version = "aiv-dashboard"
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.0"  # so even a request line without a version gets a status line back

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        if self.command not in ("GET", "HEAD"):
            self.close_connection = True  # a request body, if any, is never read
        if (
            path.startswith(ARTIFACT_PREFIX)
            and self.command in ("GET", "HEAD")
            and isinstance(self.artifacts, LocalArtifactStore)
        ):
            self._artifact(path[len(ARTIFACT_PREFIX) :])
            return
        request = Request(self.command, path, dict(parse_qsl(parts.query)), dict(self.headers.items()))
        response = self.dashboard.handle(request)
        self._send(response.status, response.headers, response.body)

    def _send(self, status: int, headers: dict, body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _artifact(self, key: str) -> None:
        try:
            path = self.artifacts.path(key)
        except ValueError:
            path = None
        if path is None or not path.is_file():
            response = self.dashboard.error_response(404, f"the store holds no artifact {key}")
            self._send(response.status, response.headers, response.body)
            return
        size = path.stat().st_size
        headers = {
            "Content-Type": artifact_type(key),
            "Accept-Ranges": "bytes",
            "Cache-Control": ARTIFACT_CACHE,
            **SECURITY_HEADERS,
        }
        if headers["Content-Type"] == "application/octet-stream":
            headers["Content-Disposition"] = "attachment"
        try:
            span = parse_range(self.headers.get("Range"), size)
        except RangeNotSatisfiable:
            self._send(416, {**headers, "Content-Range": f"bytes */{size}"}, b"")
            return
        start, end = span if span else (0, size - 1)
        self.send_response(206 if span else 200)
        for name, value in headers.items():
            self.send_header(name, value)
        if span:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1 if size else 0))
        self.end_headers()
        if self.command == "HEAD" or size == 0:
            return
        with path.open("rb") as handle:
            handle.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                chunk = handle.read(min(CHUNK, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)

    def log_message(self, format: str, *args) -> None:
        log.info("%s %s", self.address_string(), format % args)


class DashboardServer(ThreadingHTTPServer):
    """The threading server; a request that fails is logged in one line (a dropped client) or with its trace."""

    def handle_error(self, request: object, client_address: tuple) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            log.info("%s: connection lost: %s", client_address[0], error)
        else:
            log.exception("request from %s failed", client_address[0])


def make_server(
    dashboard: Dashboard, artifacts: ArtifactStore, host: str = "127.0.0.1", port: int = 8080
) -> DashboardServer:
    """A threading HTTP server for `dashboard` bound to host:port (port 0: a free one); call serve_forever()."""
    handler = type("BoundDashboardHandler", (DashboardHandler,), {"dashboard": dashboard, "artifacts": artifacts})
    server = DashboardServer((host, port), handler)
    server.daemon_threads = True
    return server
