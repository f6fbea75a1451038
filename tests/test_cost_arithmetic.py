"""aiv/cost_arithmetic.py: tokens x prices, seconds x the GPU price, and the sums every caller keeps alike."""

from __future__ import annotations

import pytest
from store_contract import make_experiment
from test_layers import loaded_after
from test_store_dynamodb import aws, dynamodb, store  # noqa: F401 (the moto DynamoDB store fixture)

from aiv.aws.prices import GpuPrice
from aiv.cost_arithmetic import (
    codec_seconds,
    cost_usd,
    gpu_usd,
    round_usd,
    with_codec_seconds,
    with_job_seconds,
    with_usage,
)
from aiv.search.pricing import Price
from aiv.search.proposer import Usage
from aiv.store.runs import RunSpend

PRICE = Price(input=2.0, output=10.0, cache_write_5m=2.5, cache_write_1h=4.0, cache_read=0.2)
GPU = GpuPrice(0.752, "g4dn.2xlarge On-Demand list price in us-east-1, $0.752/h")


def fresh_cost() -> dict:
    """The "cost" of a new experiment, as the store creates it."""
    return make_experiment(0).cost


def evaluation(*seconds: tuple[float, float]) -> dict:
    """An evaluation record with one clip whose points took these (encode, decode) seconds."""
    return {"clips": [{"points": [{"encode_s": e, "decode_s": d} for e, d in seconds]}]}


def test_a_reply_is_priced_per_million_tokens_of_each_kind():
    usd = cost_usd(
        PRICE,
        input_tokens=1_000,
        output_tokens=500,
        cache_write_5m_tokens=200,
        cache_write_1h_tokens=100,
        cache_read_tokens=3_000,
    )
    assert usd == pytest.approx((1_000 * 2.0 + 500 * 10.0 + 200 * 2.5 + 100 * 4.0 + 3_000 * 0.2) / 1e6)
    assert cost_usd(PRICE, 1_000_000, 0) == 2.0 and cost_usd(PRICE, 0, 0) == 0.0


def test_a_proposals_usage_is_added_and_the_dollars_kept_to_the_millionth():
    cost = fresh_cost()
    once = with_usage(
        cost, Usage(input_tokens=1200, output_tokens=300, usd=0.1234567, cache_read_tokens=800, cache_write_tokens=100)
    )
    twice = with_usage(once, Usage(input_tokens=10, output_tokens=5, usd=0.2, cache_read_tokens=1))
    assert (twice["input_tokens"], twice["output_tokens"]) == (1210, 305)
    assert (twice["cache_read_tokens"], twice["cache_write_tokens"]) == (801, 100)
    assert twice["llm_usd"] == 0.323457 and twice["compute_s"] == cost["compute_s"]
    assert cost == fresh_cost()  # the record given is not changed


def test_a_cost_stored_before_prompt_caching_gains_the_cache_fields():
    old = {"input_tokens": 5, "output_tokens": 1, "llm_usd": 0.5, "compute_s": 0.0}
    assert with_usage(old, Usage(input_tokens=1, cache_read_tokens=2, cache_write_tokens=3)) == {
        "input_tokens": 6,
        "output_tokens": 1,
        "llm_usd": 0.5,
        "compute_s": 0.0,
        "cache_read_tokens": 2,
        "cache_write_tokens": 3,
    }


def test_codec_seconds_sum_every_point_of_every_record_given():
    assert codec_seconds(evaluation((1.0, 0.5), (2.0, 0.25)), None, evaluation((0.125, 0.125))) == 4.0
    assert codec_seconds() == 0 and codec_seconds(None) == 0
    assert with_codec_seconds(fresh_cost(), 1.23456)["compute_s"] == 1.235


def test_the_gpu_jobs_seconds_are_summed_over_attempts_and_the_sum_priced():
    first = with_job_seconds(fresh_cost(), 1000.0, GPU)
    second = with_job_seconds(first, 800.0004, GPU)
    assert second["batch_s"] == 1800.0 and second["gpu_usd"] == gpu_usd(1800.0, GPU) == 0.376
    assert second["gpu_price_basis"] == GPU.basis
    assert gpu_usd(1.0, GPU) == round(0.752 / 3600, 6)


def test_without_a_price_no_number_stands_in_for_it():
    cost = with_job_seconds(fresh_cost(), 42.5, None)
    assert cost["batch_s"] == 42.5 and cost["gpu_usd"] is None and cost["gpu_price_basis"] is None
    # A price given on a later attempt prices the whole sum.
    assert with_job_seconds(cost, 7.5, GPU)["gpu_usd"] == gpu_usd(50.0, GPU)


def test_a_runs_spend_adds_as_an_experiments_cost_does():
    usages = [Usage(input_tokens=100, output_tokens=10, usd=usd) for usd in (0.1, 0.2, 0.0000004, 0.123456)]
    cost, spend = fresh_cost(), RunSpend()
    for usage in usages:
        one = with_usage(fresh_cost(), usage)
        cost, spend = with_usage(cost, usage), spend.plus(one)
    assert spend == RunSpend(cost["llm_usd"], cost["input_tokens"], cost["output_tokens"])
    assert spend.llm_usd == round_usd(0.1 + 0.2 + 0.123456) == 0.423456  # 0.1 + 0.2 alone is 0.30000000000000004


def test_costs_come_back_from_dynamodb_as_the_same_floats(store):
    cost = with_job_seconds(
        with_usage(fresh_cost(), Usage(input_tokens=3, output_tokens=2, usd=0.000123)), 1234.5678, GPU
    )
    store.create_experiment(make_experiment(1, cost=cost))
    stored = store.get_experiment("exp-contract-000001").cost
    assert stored == cost and all(type(stored[k]) is type(cost[k]) for k in cost)  # floats, never Decimal
    store.put_state("run:r", {"spend": {"llm_usd": cost["llm_usd"]}})
    assert type(store.get_state("run:r")["spend"]["llm_usd"]) is float


def test_the_arithmetic_imports_nothing_of_the_lab():
    assert {name for name in loaded_after("aiv.cost_arithmetic") if name.startswith("aiv")} == {
        "aiv",
        "aiv.cost_arithmetic",
    }
