"""The price of each Claude model's tokens, in one place (what a reply costs: aiv/cost_arithmetic.py).

Prices are US dollars per million tokens, list prices of the Claude API (standard tier, no batch
discount), checked on PRICES_CHECKED against PRICES_SOURCE. Amazon Bedrock model ids
("anthropic.claude-sonnet-5-5", "us.anthropic.claude-sonnet-5-5", "...-v1:0") are priced as the
Anthropic model they name; Bedrock's regional endpoints may charge a premium over these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiv.errors import ConfigError

PRICES_CHECKED = "2026-11-21"
PRICES_SOURCE = (
    "https://platform.claude.com/docs/en/about-claude/pricing and each model's overview page "
    "(https://platform.claude.com/docs/en/models/<model>/overview)"
)


@dataclass(frozen=True)
class Price:
    """$ per million tokens of one model."""

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float


PRICES: dict[str, Price] = {
    "claude-sonnet-5-5": Price(input=2.0, output=10.0, cache_write_5m=2.5, cache_write_1h=4.0, cache_read=0.2),
    "claude-sonnet-5": Price(input=2.0, output=10.0, cache_write_5m=2.5, cache_write_1h=4.0, cache_read=0.2),
    "claude-opus-5-5": Price(input=4.0, output=20.0, cache_write_5m=5.0, cache_write_1h=8.0, cache_read=0.2),
    "claude-opus-5": Price(input=5.0, output=25.0, cache_write_5m=6.25, cache_write_1h=10.0, cache_read=0.5),
    "claude-sonnet-4-6": Price(input=3.0, output=15.0, cache_write_5m=3.75, cache_write_1h=6.0, cache_read=0.3),
    "claude-haiku-4-5": Price(input=1.0, output=5.0, cache_write_5m=1.25, cache_write_1h=2.0, cache_read=0.1),
}

_BEDROCK_PREFIX = re.compile(r"^(?:[a-z]{2,6}\.)?anthropic\.")  # "anthropic." or a region profile "us.anthropic."
_VERSION_SUFFIX = re.compile(r"-v\d+(?::\d+)?$")  # "-v1:0"
_DATE_SUFFIX = re.compile(r"-\d{8}$")  # "claude-haiku-4-5-20251001"


def price_for(model: str) -> Price:
    """The price of `model` (an Anthropic or Bedrock model id); ConfigError when none is on file."""
    name = _DATE_SUFFIX.sub("", _VERSION_SUFFIX.sub("", _BEDROCK_PREFIX.sub("", model)))
    if name not in PRICES:
        raise ConfigError(
            f"no price on file for model {model!r} (known: {', '.join(PRICES)}); "
            "add it to aiv/search/pricing.py or pass a Price explicitly"
        )
    return PRICES[name]
