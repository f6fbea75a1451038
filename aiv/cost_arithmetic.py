"""The lab's cost arithmetic in one place: model tokens x their prices, the codec's seconds, the GPU
job's seconds x its hourly price, and the sums in an experiment's "cost" record and a run's spend.

Dollars are floats rounded to the millionth (USD_DIGITS), seconds to the millisecond
(SECONDS_DIGITS). Both stores keep records and state documents as JSON text (SQLite, and the
DynamoDB items' JSON attributes), so a float round-trips exactly and no Decimal is needed. The
price tables are elsewhere (models: aiv/search/pricing.py; the GPU job: aiv/aws/prices.py); this
module imports nothing at run time, so the stacks can read aiv/aws/prices.py without the search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiv.aws.prices import GpuPrice
    from aiv.search.pricing import Price
    from aiv.search.proposer import Usage

USD_DIGITS = 6  # dollars are kept to the millionth
SECONDS_DIGITS = 3  # seconds to the millisecond
TOKENS_PER_PRICED_UNIT = 1_000_000  # model prices are dollars per million tokens
SECONDS_PER_HOUR = 3600


def round_usd(usd: float) -> float:
    """`usd` rounded as the lab keeps dollars (to the millionth)."""
    return round(usd, USD_DIGITS)


def cost_usd(
    price: Price,
    input_tokens: int,
    output_tokens: int,
    cache_write_5m_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
    cache_read_tokens: int = 0,
) -> float:
    """Dollars for one reply; `input_tokens` are the uncached input tokens only."""
    total = (
        input_tokens * price.input
        + output_tokens * price.output
        + cache_write_5m_tokens * price.cache_write_5m
        + cache_write_1h_tokens * price.cache_write_1h
        + cache_read_tokens * price.cache_read
    )
    return total / TOKENS_PER_PRICED_UNIT


def with_usage(cost: dict, usage: Usage) -> dict:
    """An experiment's `cost` with one proposal's tokens and dollars added."""
    return dict(
        cost,
        input_tokens=cost["input_tokens"] + usage.input_tokens,
        cache_read_tokens=cost.get("cache_read_tokens", 0) + usage.cache_read_tokens,
        cache_write_tokens=cost.get("cache_write_tokens", 0) + usage.cache_write_tokens,
        output_tokens=cost["output_tokens"] + usage.output_tokens,
        llm_usd=round_usd(cost["llm_usd"] + (usage.usd or 0.0)),
    )


def codec_seconds(*records: dict | None) -> float:
    """The codec's own encode and decode seconds over every point of the given evaluation records."""
    return sum(p["encode_s"] + p["decode_s"] for r in records if r for c in r["clips"] for p in c["points"])


def with_codec_seconds(cost: dict, seconds: float) -> dict:
    """An experiment's `cost` with `seconds` more of the codec's own time in "compute_s"."""
    return dict(cost, compute_s=round(cost["compute_s"] + seconds, SECONDS_DIGITS))


def gpu_usd(seconds: float, price: GpuPrice) -> float:
    """What `seconds` of the job cost at `price` (USD, to the millionth of a dollar)."""
    return round_usd(seconds / SECONDS_PER_HOUR * price.usd_per_hour)


def with_job_seconds(cost: dict, seconds: float, price: GpuPrice | None) -> dict:
    """An experiment's `cost` with `seconds` more of the GPU job in "batch_s", and the sum priced.

    "gpu_usd" is batch_s / 3600 x `price` and "gpu_price_basis" its basis; both None without a
    price (a local run): no number stands in for a price the job was not given.
    """
    batch_s = round(cost.get("batch_s", 0.0) + seconds, SECONDS_DIGITS)
    return dict(
        cost,
        batch_s=batch_s,
        gpu_usd=gpu_usd(batch_s, price) if price else None,
        gpu_price_basis=price.basis if price else None,
    )
