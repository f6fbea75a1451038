"""A cap on how long a server's retry-after header may make the anthropic SDK wait before a retry.

The SDK obeys `retry-after-ms` and `retry-after` however long they are (a 429 with retry-after
86400 would sleep a day); an httpx response hook that lowers them bounds the wait. Plain Python:
the AWS side imports it without the SDK.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


def lower_retry_after(response: Any, cap_s: float) -> float | None:
    """Lower the response's `retry-after-ms` / `retry-after` headers to `cap_s`; the longest wait asked
    for (seconds, inf for an HTTP date) if one was above the cap, else None. A date becomes the cap."""
    headers, asked = response.headers, None
    for name, unit in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        if name not in headers:
            continue
        try:
            wait_s = float(headers[name]) / unit
        except ValueError:
            wait_s = math.inf
        if wait_s > cap_s:
            headers[name] = f"{cap_s * unit:g}"
            asked = max(asked or 0.0, wait_s)
    return asked


ASKED_HEADER = "x-aiv-retry-after-asked-s"  # set by retry_wait_cap: the wait the server asked for, if lowered


def retry_wait_cap(cap_s: float) -> Callable[[Any], None]:
    """An httpx response hook that lowers retry-after headers to `cap_s` seconds and notes the wait the
    server asked for in ASKED_HEADER."""

    def hook(response: Any) -> None:
        asked = lower_retry_after(response, cap_s)
        if asked is not None:
            response.headers[ASKED_HEADER] = f"{asked:g}"

    return hook
