"""The campaign's AWS costs by CostCategory, read from Cost Explorer into the "costs" state document.

The period starts on the first of the month costs were first collected (the stored document's
"start", kept from one refresh to the next) and ends today, so the totals cover the whole
campaign, not only this month; Cost Explorer answers for the last 13 months at most, and an older
start is moved up to that limit (the document's "start" then says so).

Every AiV1 resource carries the tags `Project` and `CostCategory` (Orchestrator, Inference,
Storage, Dashboard); once both are activated as cost-allocation tags in Billing, Cost Explorer
groups the project's cost by category. Each GetCostAndUsage request costs $0.01, so this runs once
a day and makes one request (more only if Cost Explorer pages the answer).

The document ({"updated_at", "currency", "start", "end", "by_category", "daily"}) is what the
dashboard shows; "untagged" collects cost of the project that has no CostCategory tag.
"""

from __future__ import annotations

from datetime import date, timedelta

from aiv.cost_arithmetic import round_usd
from aiv.names import COSTS_STATE
from aiv.store.ports import ExperimentStore
from aiv.store.records import now_iso

CURRENCY = "USD"
CATEGORY_TAG = "CostCategory"
PROJECT_TAG = "Project"
METRIC = "UnblendedCost"
UNTAGGED = "untagged"


def month_to_date(today: date) -> tuple[str, str]:
    """Cost Explorer's [start, end) period from the first of this month through today (end is exclusive)."""
    return today.replace(day=1).isoformat(), (today + timedelta(days=1)).isoformat()


def campaign_period(today: date, collected_since: str | None) -> tuple[str, str]:
    """[start, end) from the first of the month costs were first collected (`collected_since`, a stored
    document's "start") through today, starting no earlier than Cost Explorer's 13-month limit."""
    start, end = month_to_date(today)
    if collected_since:
        earliest = date(today.year - 1, today.month, 1).isoformat()  # 12 months back: inside the limit
        start = max(min(collected_since[:7] + "-01", start), earliest)
    return start, end


def cost_request(project: str, start: str, end: str) -> dict:
    """The GetCostAndUsage request: daily unblended cost of the project, grouped by the CostCategory tag."""
    return {
        "TimePeriod": {"Start": start, "End": end},
        "Granularity": "DAILY",
        "Metrics": [METRIC],
        "GroupBy": [{"Type": "TAG", "Key": CATEGORY_TAG}],
        "Filter": {"Tags": {"Key": PROJECT_TAG, "Values": [project], "MatchOptions": ["EQUALS"]}},
    }


def category_of(group_key: str) -> str:
    """The category in a TAG group key ("CostCategory$Inference"); "untagged" for "CostCategory$"."""
    prefix = f"{CATEGORY_TAG}$"
    if not group_key.startswith(prefix):
        raise ValueError(f"Cost Explorer group key {group_key!r} is not a {CATEGORY_TAG} tag group")
    return group_key[len(prefix) :] or UNTAGGED


def costs_document(results_by_time: list[dict], start: str, end: str, updated_at: str) -> dict:
    """The "costs" state document from Cost Explorer's ResultsByTime; ValueError for a cost not in USD."""
    daily, totals = [], {}
    for day in results_by_time:
        by_category: dict[str, float] = {}
        for group in day.get("Groups", []):
            amount = group["Metrics"][METRIC]
            if amount["Unit"] != CURRENCY:
                raise ValueError(
                    f"Cost Explorer reported {amount['Unit']} on {day['TimePeriod']['Start']}; "
                    f"only {CURRENCY} is supported"
                )
            category = category_of(group["Keys"][0])
            by_category[category] = by_category.get(category, 0.0) + float(amount["Amount"])
        for category, value in by_category.items():
            totals[category] = totals.get(category, 0.0) + value
        daily.append(
            {
                "date": day["TimePeriod"]["Start"],
                "estimated": bool(day.get("Estimated")),
                "by_category": {k: round_usd(v) for k, v in sorted(by_category.items())},
            }
        )
    return {
        "updated_at": updated_at,
        "currency": CURRENCY,
        "start": start,
        "end": end,
        "by_category": {k: round_usd(v) for k, v in sorted(totals.items())},
        "daily": daily,
    }


def refresh_costs(ce, experiments: ExperimentStore, project: str, today: date) -> dict:
    """Read the campaign's costs of `project` from Cost Explorer (client `ce`) and store the "costs" document."""
    previous = experiments.get_state(COSTS_STATE) or {}
    request = cost_request(project, *campaign_period(today, previous.get("start")))
    results: list[dict] = []
    while True:
        response = ce.get_cost_and_usage(**request)
        results += response["ResultsByTime"]
        if not response.get("NextPageToken"):
            break
        request = dict(request, NextPageToken=response["NextPageToken"])
    document = costs_document(results, request["TimePeriod"]["Start"], request["TimePeriod"]["End"], now_iso())
    experiments.put_state(COSTS_STATE, document)
    return document
