"""The anthropic SDK client, built in one place: Amazon Bedrock, or the Anthropic API with a key.

The local proposer (aiv/search/claude.py, key from ANTHROPIC_API_KEY) and the propose Lambda
(aiv/aws/environment.py, key from Secrets Manager, limits from aiv/aws/claude_limits.py) both build
their client here; they differ only in the numbers and the response hook they pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic

from aiv.errors import ConfigError

NO_API_KEY = (
    "no Anthropic API key: set ANTHROPIC_API_KEY (or use Amazon Bedrock with bedrock=True, or the offline proposer)"
)


def claude_client(
    *,
    bedrock: bool,
    timeout_s: float,
    max_retries: int,
    on_response: Callable[[Any], None],
    api_key: str | None = None,
    aws_region: str | None = None,
) -> anthropic.Anthropic | anthropic.AnthropicBedrock:
    """The SDK client: each request waits up to `timeout_s` and is retried `max_retries` times, and every
    response passes through the httpx hook `on_response` first (which caps the retry-after wait).

    With `bedrock`, an AnthropicBedrock client in `aws_region` (None: the AWS configuration's region)
    with the AWS credentials of the process; else an Anthropic API client with `api_key`. ConfigError
    when Bedrock finds no region or no key is given.
    """
    options: dict[str, Any] = {
        "timeout": timeout_s,
        "max_retries": max_retries,
        "http_client": anthropic.DefaultHttpxClient(event_hooks={"response": [on_response]}),
    }
    if bedrock:
        try:
            return anthropic.AnthropicBedrock(aws_region=aws_region, **options)
        except ValueError as exc:  # no region anywhere
            raise ConfigError(f"Amazon Bedrock cannot be used: {exc}") from exc
    if not api_key:
        raise ConfigError(NO_API_KEY)
    return anthropic.Anthropic(api_key=api_key, **options)
