"""Resumable HTTP downloads (stdlib urllib): a `.part` file continued with a Range request, then renamed.

A stalled server (no data for `timeout_s`), a dropped connection or a body shorter than the
length the server announced leaves the `.part` file in place, so the next attempt resumes from
its end; the error says so. Only a complete body is renamed to its final name.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path

from tqdm import tqdm

from aiv.errors import AivError

CHUNK = 1 << 20
USER_AGENT = "aiv-clips-fetch"
_CONTENT_RANGE = re.compile(r"bytes (?:\d+-\d+|\*)/(\d+|\*)")  # "bytes 0-99/1000", or "bytes */1000" with 416


class FetchError(AivError):
    """A download did not complete; the message says why and whether running again resumes it."""


def part_path(dest: Path) -> Path:
    """Where the incomplete download of `dest` is kept."""
    return dest.with_name(dest.name + ".part")


def download(url: str, dest: Path, timeout_s: float = 60.0, show_progress: bool = True) -> Path:
    """Download `url` to `dest`, resuming an earlier `.part` of it; returns `dest`.

    FetchError for an HTTP error status, an unreachable server, a stall longer than `timeout_s`
    seconds, or a body shorter than announced.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(
        url, headers={"User-Agent": USER_AGENT, **({"Range": f"bytes={offset}-"} if offset else {})}
    )
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing after `offset`: the part may already be whole
            total = _total_from_range(exc.headers.get("Content-Range"))
            if total == offset:
                part.replace(dest)
                return dest
            part.unlink()
            raise FetchError(
                f"{url}: the server refused to resume at byte {offset} (HTTP 416); the partial "
                f"download was removed, run again to start over"
            ) from None
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, HTTPException) as exc:
        raise FetchError(f"{url}: cannot download: {getattr(exc, 'reason', exc)}") from None
    with response:
        if offset and response.status != 206:  # the server ignored the Range: start over
            offset = 0
        total = _expected_total(response, offset)
        _receive(response, part, offset, total, url, timeout_s, show_progress)
    part.replace(dest)
    return dest


def _expected_total(response, offset: int) -> int | None:
    if response.status == 206:
        return _total_from_range(response.headers.get("Content-Range"))
    length = response.headers.get("Content-Length")
    return int(length) + offset if length and length.isdigit() else None


def _total_from_range(header: str | None) -> int | None:
    match = _CONTENT_RANGE.fullmatch(header or "")
    return int(match[1]) if match and match[1] != "*" else None


def _receive(
    response, part: Path, offset: int, total: int | None, url: str, timeout_s: float, show_progress: bool
) -> None:
    """Append the body to `part` (from scratch when `offset` is 0), checking its length against `total`."""
    received = offset
    with (
        open(part, "ab" if offset else "wb") as out,
        tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            desc=url.rsplit("/", 1)[-1],
            disable=not show_progress,
            leave=False,
        ) as bar,
    ):
        try:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except TimeoutError:
            raise FetchError(
                f"{url}: no data for {timeout_s:g} s after {received} bytes; run again to resume"
            ) from None
        except (OSError, HTTPException) as exc:
            raise FetchError(f"{url}: connection lost after {received} bytes ({exc}); run again to resume") from None
    if total is not None and received != total:
        raise FetchError(f"{url}: the server sent {received} of {total} bytes (truncated); run again to resume")
