"""The GPU job's hourly price: EC2 On-Demand list prices, the stack's choice of one, and the job's reading of it.

ON_DEMAND_USD_PER_HOUR is the one price table of the lab: Linux, shared tenancy, per instance-hour,
from the Amazon EC2 On-Demand pricing page (https://aws.amazon.com/ec2/pricing/on-demand/) and the
G4 instance page (https://aws.amazon.com/ec2/instance-types/g4/), as listed there when PRICES_AS_OF
was written; the g4dn list prices have not changed since the family's launch in 2019. A region or
instance type it lacks is an error, never a guessed price: add the list price from those pages.

The compute stack gives the Batch job `job_price(...)` in AIV_GPU_PRICE_USD_PER_HOUR and
AIV_GPU_PRICE_BASIS; gpu_runner/entry.py reads them back with `price_from_env()` and records its
seconds in the experiment's cost with `aiv.cost_arithmetic.with_job_seconds`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Sequence

from aiv.errors import ConfigError

PRICES_AS_OF = "2026-11-21"
PRICE_SOURCE = "https://aws.amazon.com/ec2/pricing/on-demand/"
ON_DEMAND_USD_PER_HOUR: dict[str, dict[str, float]] = {
    "us-east-1": {
        "g4dn.xlarge": 0.526,
        "g4dn.2xlarge": 0.752,
        "g4dn.4xlarge": 1.204,
        "g4dn.8xlarge": 2.176,
        "g4dn.12xlarge": 3.912,
        "g4dn.16xlarge": 4.352,
    },
}
GPU_PRICE = "AIV_GPU_PRICE_USD_PER_HOUR"
GPU_PRICE_BASIS = "AIV_GPU_PRICE_BASIS"


@dataclass(frozen=True)
class GpuPrice:
    """What one hour of the GPU job is charged at (USD), and the words saying what that number is."""

    usd_per_hour: float
    basis: str


def on_demand_price(region: str, instance_type: str) -> float:
    """The On-Demand list price (USD per hour) of `instance_type` in `region`; ConfigError naming what has none."""
    table = ON_DEMAND_USD_PER_HOUR.get(region)
    if table is None:
        raise ConfigError(
            f"no On-Demand price table for region {region!r} in aiv/aws/prices.py (it has "
            f"{sorted(ON_DEMAND_USD_PER_HOUR)}); add that region's list prices from {PRICE_SOURCE}"
        )
    if instance_type not in table:
        raise ConfigError(
            f"no On-Demand price for instance type {instance_type!r} in region {region!r} in "
            f"aiv/aws/prices.py (it has {sorted(table)}); add its list price from {PRICE_SOURCE}"
        )
    return table[instance_type]


def job_price(region: str, instance_types: Sequence[str], spot: bool) -> GpuPrice:
    """The price to charge the job at: the On-Demand list price of the dearest of `instance_types` in `region`.

    Batch may place the job on any of them, and Spot prices vary, so with more than one type or
    with Spot the number is an upper bound and the basis says so.
    """
    if not instance_types:
        raise ConfigError("no instance types to price the GPU job by")
    prices = {name: on_demand_price(region, name) for name in instance_types}
    dearest = max(prices, key=prices.__getitem__)
    basis = f"{dearest} On-Demand list price in {region}, ${prices[dearest]:.3f}/h"
    cheaper = [name for name in prices if prices[name] < prices[dearest]]
    if cheaper or spot:
        basis = f"upper bound: {basis}"
    if cheaper:
        basis += f"; Batch may place the job on a cheaper type ({', '.join(cheaper)})"
    if spot:
        basis += "; Spot costs less"
    return GpuPrice(prices[dearest], basis)


def price_environment(price: GpuPrice) -> dict[str, str]:
    """The job's environment variables that carry `price`."""
    return {GPU_PRICE: repr(price.usd_per_hour), GPU_PRICE_BASIS: price.basis}


def price_from_env() -> GpuPrice | None:
    """The price the stack gave the job, or None when neither variable is set (a local run).

    ConfigError naming the variable when only one is set or the price is not a positive number.
    """
    text, basis = os.environ.get(GPU_PRICE, "").strip(), os.environ.get(GPU_PRICE_BASIS, "").strip()
    if not text and not basis:
        return None
    if not text or not basis:
        missing = GPU_PRICE if not text else GPU_PRICE_BASIS
        raise ConfigError(
            f"{missing} is not set, but {GPU_PRICE if text else GPU_PRICE_BASIS} is; the compute stack sets both"
        )
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{GPU_PRICE} must be a positive number of USD per hour, got {text!r}")
    return GpuPrice(value, basis)
