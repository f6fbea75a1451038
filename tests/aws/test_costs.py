"""The costs Lambda: Cost Explorer (moto, seeded with results through its moto-api) into the "costs" document."""

from __future__ import annotations

from datetime import date, datetime, timezone

import boto3
import pytest
import requests
from awslab import PROJECT, handler_module

from aiv.aws.costs import COSTS_STATE, campaign_period, category_of, costs_document, month_to_date


def day(start: str, end: str, groups: dict[str, str], unit: str = "USD") -> dict:
    return {
        "TimePeriod": {"Start": start, "End": end},
        "Estimated": True,
        "Total": {},
        "Groups": [
            {"Keys": [key], "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": unit}}}
            for key, amount in groups.items()
        ],
    }


SEEDED = [
    day(
        "2026-11-01",
        "2026-11-02",
        {"CostCategory$Inference": "1.25", "CostCategory$Orchestrator": "0.0125", "CostCategory$": "0.5"},
    ),
    day("2026-11-02", "2026-11-03", {"CostCategory$Inference": "2.5", "CostCategory$Storage": "0.031"}),
]


@pytest.fixture
def seeded_cost_explorer(aws):
    """moto's Cost Explorer answering the next GetCostAndUsage with SEEDED; yields the requests the code makes."""
    answer = requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results",
        json={
            "results": [
                {
                    "ResultsByTime": SEEDED,
                    "DimensionValueAttributes": [],
                    "GroupDefinitions": [{"Type": "TAG", "Key": "CostCategory"}],
                }
            ]
        },
    )
    assert answer.status_code == 201
    sent: list[dict] = []
    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register(
        "provide-client-params.ce.GetCostAndUsage", lambda params, **kwargs: sent.append(params)
    )
    yield sent
    boto3.setup_default_session()


def test_the_costs_lambda_stores_month_to_date_costs_by_category(seeded_cost_explorer, lab, lambda_context):
    out = handler_module("costs").handler({"source": "aws.scheduler"}, lambda_context)
    document = lab.experiments.get_state(COSTS_STATE)
    assert out == {"updated_at": document["updated_at"], "by_category": document["by_category"]}
    assert document["by_category"] == {"Inference": 3.75, "Orchestrator": 0.0125, "Storage": 0.031, "untagged": 0.5}
    assert document["currency"] == "USD"
    assert [d["date"] for d in document["daily"]] == ["2026-11-01", "2026-11-02"]
    assert document["daily"][1]["by_category"] == {"Inference": 2.5, "Storage": 0.031}
    [request] = seeded_cost_explorer  # one call: each costs money
    start, end = month_to_date(datetime.now(timezone.utc).date())
    assert request["TimePeriod"] == {"Start": start, "End": end}
    assert (document["start"], document["end"]) == (start, end)
    assert request["Granularity"] == "DAILY" and request["Metrics"] == ["UnblendedCost"]
    assert request["GroupBy"] == [{"Type": "TAG", "Key": "CostCategory"}]
    assert request["Filter"] == {"Tags": {"Key": "Project", "Values": [PROJECT], "MatchOptions": ["EQUALS"]}}


def test_the_period_runs_from_the_month_costs_were_first_collected(seeded_cost_explorer, lab, lambda_context):
    lab.experiments.put_state(COSTS_STATE, {"start": "2026-01-01", "by_category": {}})
    handler_module("costs").handler({"source": "aws.scheduler"}, lambda_context)
    [request] = seeded_cost_explorer
    today = datetime.now(timezone.utc).date()
    assert request["TimePeriod"] == dict(zip(("Start", "End"), campaign_period(today, "2026-01-01")))
    assert lab.experiments.get_state(COSTS_STATE)["start"] == request["TimePeriod"]["Start"]


def test_campaign_period_keeps_its_start_within_cost_explorers_13_months():
    assert campaign_period(date(2026, 11, 21), None) == ("2026-11-01", "2026-11-22")
    assert campaign_period(date(2026, 11, 21), "2026-09-01") == ("2026-09-01", "2026-11-22")
    assert campaign_period(date(2026, 11, 21), "2026-09-17") == ("2026-09-01", "2026-11-22")
    assert campaign_period(date(2026, 11, 21), "2024-02-01") == ("2025-11-01", "2026-11-22")
    assert campaign_period(date(2026, 1, 5), "2023-01-01") == ("2025-01-01", "2026-01-06")


def test_month_to_date_includes_today_and_works_on_the_first():
    assert month_to_date(date(2026, 11, 21)) == ("2026-11-01", "2026-11-22")
    assert month_to_date(date(2026, 12, 1)) == ("2026-12-01", "2026-12-02")
    assert month_to_date(date(2026, 12, 31)) == ("2026-12-01", "2027-01-01")


def test_a_cost_in_another_currency_is_refused():
    with pytest.raises(ValueError, match="reported EUR on 2026-11-01; only USD"):
        costs_document(
            [day("2026-11-01", "2026-11-02", {"CostCategory$Inference": "1"}, unit="EUR")],
            "2026-11-01",
            "2026-11-02",
            "now",
        )


def test_a_group_that_is_not_the_category_tag_is_refused():
    assert category_of("CostCategory$Dashboard") == "Dashboard"
    with pytest.raises(ValueError, match="'Project\\$AiV1' is not a CostCategory tag group"):
        category_of("Project$AiV1")
