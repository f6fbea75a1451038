"""How long the propose Lambda may wait for Claude: its timeout, and the SDK client's budget inside it.

The anthropic SDK sends a request, waits up to `timeout` for the reply, and on a transient failure
(429, 5xx, 529, a timeout, a dropped connection) waits and sends it again, `max_retries` times. Its
own wait between tries is an exponential backoff of at most 8 s, but a server's `retry-after` (or
`retry-after-ms`) header is obeyed however long it is; `cap_retry_after` lowers such a header to
CLAUDE_RETRY_WAIT_CAP_S before the SDK reads it. So one proposal takes at most

    CLAUDE_REQUEST_TIMEOUT_S x (CLAUDE_MAX_RETRIES + 1) + CLAUDE_MAX_RETRIES x CLAUDE_RETRY_WAIT_CAP_S

and, with PROPOSE_MARGIN_S for the rest of the step (reading the archive, writing the code, a cold
start's imports), fits in PROPOSE_LAMBDA_TIMEOUT_S, which the pipeline stack gives the Lambda. The
request timeout is derived from the others, so changing one number keeps the sum inside the Lambda.
Few SDK retries are enough: a proposal that still fails is rejected with the reason, and the state
machine proposes that candidate again (up to aiv.candidate_loop.MAX_PROPOSAL_ATTEMPTS times).
"""

from __future__ import annotations

import math
from typing import Any

PROPOSE_LAMBDA_TIMEOUT_S = 900  # Lambda's maximum
PROPOSE_MARGIN_S = 90  # the step's own work around the Claude call
CLAUDE_MAX_RETRIES = 1  # SDK retries per proposal; the state machine's own retry loop comes on top
CLAUDE_RETRY_WAIT_CAP_S = 30.0  # the longest wait before a retry, whatever the server's retry-after says
CLAUDE_REQUEST_TIMEOUT_S = math.floor(
    (PROPOSE_LAMBDA_TIMEOUT_S - PROPOSE_MARGIN_S - CLAUDE_MAX_RETRIES * CLAUDE_RETRY_WAIT_CAP_S)
    / (CLAUDE_MAX_RETRIES + 1)
)


def worst_case_claude_s(
    request_timeout_s: float = CLAUDE_REQUEST_TIMEOUT_S,
    max_retries: int = CLAUDE_MAX_RETRIES,
    retry_wait_cap_s: float = CLAUDE_RETRY_WAIT_CAP_S,
) -> float:
    """The longest one proposal's Claude call can take: every try timing out, every wait at the cap."""
    return request_timeout_s * (max_retries + 1) + max_retries * retry_wait_cap_s


def cap_retry_after(response: Any) -> None:
    """An httpx response hook: lower the response's retry-after headers to CLAUDE_RETRY_WAIT_CAP_S.

    `retry-after-ms` (milliseconds) and `retry-after` (seconds) above the cap are set to it; a
    `retry-after` that is not a number (an HTTP date) is replaced by the cap. (Imported here: the
    stacks read this module's numbers without loading aiv.search.)
    """
    from aiv.search.retry_wait import lower_retry_after

    lower_retry_after(response, CLAUDE_RETRY_WAIT_CAP_S)
