"""aiv/aws/prices.py: the list-price table, the job's price and its basis, the job's reading of it, and the guide."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aiv.aws.prices import (
    GPU_PRICE,
    GPU_PRICE_BASIS,
    GpuPrice,
    job_price,
    on_demand_price,
    price_environment,
    price_from_env,
)
from aiv.cost_arithmetic import gpu_usd
from aiv.errors import ConfigError

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def test_a_single_on_demand_type_is_priced_exactly():
    price = job_price("us-east-1", ["g4dn.xlarge"], spot=False)
    assert price == GpuPrice(0.526, "g4dn.xlarge On-Demand list price in us-east-1, $0.526/h")


def test_several_types_or_spot_make_the_dearest_list_price_an_upper_bound():
    price = job_price("us-east-1", ["g4dn.4xlarge", "g4dn.xlarge", "g4dn.2xlarge"], spot=True)
    assert price.usd_per_hour == 1.204
    assert price.basis == (
        "upper bound: g4dn.4xlarge On-Demand list price in us-east-1, $1.204/h; Batch may place "
        "the job on a cheaper type (g4dn.xlarge, g4dn.2xlarge); Spot costs less"
    )
    assert job_price("us-east-1", ["g4dn.xlarge"], spot=True).basis.startswith("upper bound: g4dn.xlarge")


@pytest.mark.parametrize(
    "region, types, named",
    [
        ("us-east-1", ["g4dn.xlarge", "g5.xlarge"], "instance type 'g5.xlarge' in region 'us-east-1'"),
        ("eu-west-1", ["g4dn.xlarge"], "region 'eu-west-1'"),
    ],
)
def test_a_price_missing_from_the_table_is_an_error_naming_it(region, types, named):
    with pytest.raises(ConfigError, match=re.escape(named)):
        job_price(region, types, spot=True)
    with pytest.raises(ConfigError, match=re.escape(named)):
        on_demand_price(region, types[-1])


def test_the_job_reads_back_what_the_stack_gives_it(monkeypatch):
    price = job_price("us-east-1", ["g4dn.xlarge", "g4dn.2xlarge"], spot=True)
    for name, value in price_environment(price).items():
        monkeypatch.setenv(name, value)
    assert price_from_env() == price
    assert gpu_usd(1800.0, price) == pytest.approx(0.376)


def test_no_price_in_the_environment_is_none(monkeypatch):
    monkeypatch.delenv(GPU_PRICE, raising=False)
    monkeypatch.delenv(GPU_PRICE_BASIS, raising=False)
    assert price_from_env() is None


@pytest.mark.parametrize(
    "price, basis, named",
    [
        ("0.752", "", GPU_PRICE_BASIS),
        ("", "upper bound: g4dn.2xlarge", GPU_PRICE),
        ("cheap", "upper bound: g4dn.2xlarge", GPU_PRICE),
        ("0", "upper bound: g4dn.2xlarge", GPU_PRICE),
        ("nan", "upper bound: g4dn.2xlarge", GPU_PRICE),
    ],
)
def test_a_bad_price_in_the_environment_is_an_error_naming_the_variable(monkeypatch, price, basis, named):
    monkeypatch.setenv(GPU_PRICE, price)
    monkeypatch.setenv(GPU_PRICE_BASIS, basis)
    with pytest.raises(ConfigError, match=f"^{named} "):
        price_from_env()


def test_the_guide_says_what_each_experiment_records():
    section = GUIDE.read_text().split("### Per experiment", 1)[1].split("\n## ", 1)[0]
    for needle in (
        "`batch_s`",
        "`gpu_usd`",
        "`gpu_price_basis`",
        "`compute_s`",
        "`llm_usd`",
        GPU_PRICE,
        "upper bound",
        "aiv/aws/prices.py",
    ):
        assert needle in section, needle
