"""Dashboard pages for the researcher: progress from the best seed, the lineage tree, BD-rate against the
parent, few-point caveats, live pages reloading, spend over the whole campaign."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from aiv.comparison import Entry, bd_rates_against
from aiv.store.records import now_iso
from aiv.store.runs import RunSpend, RunState, write_run
from aiv.web import charts, views
from aiv.web.app import Dashboard, Request
from web_seed import RUN_SPEND_USD, seed_normal


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    seeded = seed_normal(tmp_path_factory.mktemp("research"), previews=False)
    yield seeded
    seeded.close()


def page(store, path: str) -> str:
    response = Dashboard(store.experiments, store.artifacts).handle(Request("GET", path))
    assert response.status == 200, response.body.decode()[-500:]
    return response.body.decode()


def figure(text: str, chart_id: str) -> dict:
    block = re.search(rf'<script type="application/json" data-chart="{chart_id}">(.*?)</script>', text, re.S)
    return json.loads(block.group(1))


def test_progress_is_measured_from_the_best_seed_and_a_worse_seed_is_off_the_scale(store):
    history = store.experiments.get_state("best_history:bm-web-seed")["points"]
    intra, hybrid = (store.experiments.get_experiment(store.ids[name]) for name in ("intra", "hybrid"))
    assert [p["experiment_id"] for p in history[:2]] == [intra.id, hybrid.id]
    text = page(store, "/")
    gain = hybrid.score - history[-1]["score"]
    assert f"improved the best train score by <strong>{gain:,.2f} points</strong> of BD-rate over the best seed" in text
    chart = figure(text, "chart-best")
    low, high = chart["layout"]["yaxis"]["range"]
    assert low < history[-1]["score"] and hybrid.score < high < intra.score
    assert chart["layout"]["shapes"][0]["y0"] == hybrid.score  # the best seed's line
    assert f"above the scale: {intra.id} {intra.score:+.0f}%" in json.dumps(chart["layout"]["annotations"])
    validation = chart["data"][1]
    assert validation["mode"] == "markers"  # single measurements, not a line between them


def test_without_a_seed_the_chart_is_not_clipped():
    points = [
        {"at": "2026-01-01T00:00:00+00:00", "experiment_id": "a", "score": 700.0, "score_validation": None},
        {"at": "2026-01-02T00:00:00+00:00", "experiment_id": "b", "score": 10.0, "score_validation": 12.0},
    ]
    chart = charts.best_score(points)
    assert "range" not in chart["layout"]["yaxis"] and "annotations" not in chart["layout"]
    assert views.search_progress(points, None) is None
    assert views.search_progress(points, {"id": "a", "score": 700.0}) == 690.0
    assert views.search_progress(points, {"id": "b", "score": 10.0}) is None  # no gain over the seed


def test_costs_count_the_whole_campaign_from_the_best_seed(store):
    text = page(store, "/costs")
    hybrid = store.experiments.get_experiment(store.ids["hybrid"])
    best = store.experiments.get_state("best_history:bm-web-seed")["points"][-1]
    gain = hybrid.score - best["score"]
    runs = len(store.experiments.get_state("campaign")["recent_runs"])
    assert "over the best seed, " in text and f"to {best['score']:+.2f}%" in text
    assert f"for ${RUN_SPEND_USD * runs:.4f} of model spend that is <strong>${RUN_SPEND_USD * runs / gain:.4f}" in text


def test_costs_add_model_spend_to_cloud_spend(tmp_path):
    seeded = seed_normal(tmp_path / "aws", aws_states=True, previews=False)
    try:
        view = views.costs(seeded.experiments)
        cloud = seeded.experiments.get_state("costs")["by_category"]
        runs = len(seeded.experiments.get_state("campaign")["recent_runs"])
        assert view["campaign_usd"] == pytest.approx(sum(cloud.values()) + RUN_SPEND_USD * runs)
        assert view["campaign_usd_source"] == "cloud spend (Cost Explorer) + model spend"
    finally:
        seeded.close()


def test_the_lineage_tree_holds_the_best_and_their_ancestors_under_the_seeds(store):
    view = views.lineage(store.experiments)
    roots = {node["id"]: node for node in view["roots"]}
    assert set(roots) == {store.ids["intra"], store.ids["hybrid"]}
    hybrid = roots[store.ids["hybrid"]]
    children = [child["id"] for child in hybrid["children"]]
    assert store.ids["claude1"] in children and store.ids["offline1"] in children
    claude1 = next(c for c in hybrid["children"] if c["id"] == store.ids["claude1"])
    assert [c["id"] for c in claude1["children"]] == [store.ids["best"]]
    assert claude1["children"][0]["rank"] == 1
    scores = [c["score"] for c in hybrid["children"]]
    assert scores == sorted(scores)  # best first
    text = page(store, "/lineage")
    assert 'href="/lineage" aria-current="page"' in text
    assert text.count('<ul class="tree"') == 1 and f"/experiments/{store.ids['best']}" in text


def test_the_experiment_page_shows_its_ancestry_and_the_bd_rate_against_its_parent(store):
    best = store.experiments.get_experiment(store.ids["best"])
    parent = store.experiments.get_experiment(best.parents[0])
    result = json.loads(store.artifacts.get(best.result_key))
    parent_result = json.loads(store.artifacts.get(parent.result_key))
    against = bd_rates_against(
        Entry(parent.id, "parent", parent_result["train"]), Entry(best.id, "this", result["train"])
    )
    result["vs_parent"] = {"parent": parent.id, "train": against}
    store.artifacts.put(best.result_key, json.dumps(result).encode())
    text = page(store, f"/experiments/{best.id}")
    assert f"{against['mean']['psnr_y']:+.2f}%" in text
    first_clip = result["train"]["clips"][0]["name"]
    assert f"{against['clips'][first_clip]['psnr_y']['value']:+.2f}%" in text
    chain = ".*".join(re.escape(store.ids[name]) for name in ("claude1", "hybrid"))
    assert re.search(r'<ol class="ancestry">.*' + chain, text, re.S)
    offline = store.experiments.get_experiment(store.ids["offline1"])
    assert "not measured for this record" in page(store, f"/experiments/{offline.id}")


def test_a_bd_rate_from_few_points_is_flagged(store):
    odd = store.experiments.get_experiment(store.ids["offline1"])
    caveats = {
        "bd_rate_x265_psnr_y": "pan_zoom: from 2 test and 4 anchor points; the common test conditions use 4 or "
        "more on each curve"
    }
    summary = replace(odd.summary, train=replace(odd.summary_of("train"), caveats=caveats))
    store.experiments.update_experiment(odd.id, {"summary": summary})
    text = page(store, f"/experiments/{odd.id}")
    assert '<abbr class="caveat" title="pan_zoom: from 2 test and 4 anchor points' in text


def test_live_pages_reload_while_a_run_is_live(store, tmp_path):
    refresh = f'<meta http-equiv="refresh" content="{views.LIVE_REFRESH_S}">'
    assert refresh in page(store, "/") and refresh in page(store, "/activity")  # run-seed-2 is alive
    assert refresh not in page(store, "/experiments") and refresh not in page(store, "/costs")
    idle = seed_normal(tmp_path / "idle", previews=False)
    try:
        idle.experiments.put_state(
            "run:run-seed-2",
            dict(idle.experiments.get_state("run:run-seed-2"), heartbeat_at="2020-01-01T00:00:00+00:00"),
        )
        assert refresh not in page(idle, "/") and refresh not in page(idle, "/activity")
    finally:
        idle.close()


def test_the_diff_has_no_blank_lines_between_its_lines(store):
    text = page(store, f"/experiments/{store.ids['claude1']}")
    diff = re.search(r'<pre class="diff"[^>]*>(.*?)</pre>', text, re.S).group(1)
    assert "\n" not in diff and diff.count("<span class=") > 3


def test_model_spend_covers_every_run_not_only_the_recent_ones(tmp_path):
    seeded = seed_normal(tmp_path / "many", previews=False)
    try:
        campaign = seeded.experiments.get_state("campaign")
        older = [f"run-old-{i}" for i in range(25)]
        for run_id in older:
            write_run(
                seeded.experiments,
                RunState(
                    run_id=run_id,
                    pid=1,
                    host="elsewhere",
                    started_at=now_iso(),
                    heartbeat_at=now_iso(),
                    status="finished",
                    spend=RunSpend(llm_usd=1.0, input_tokens=10, output_tokens=1),
                ),
            )
        seeded.experiments.put_state("campaign", campaign | {"runs": campaign["recent_runs"] + older})
        spend = views.spend_view(seeded.experiments)
        assert spend["runs"] == len(campaign["recent_runs"]) + 25
        assert spend["llm_usd"] == pytest.approx(RUN_SPEND_USD * len(campaign["recent_runs"]) + 25.0)
    finally:
        seeded.close()


def test_a_crashed_run_and_a_silently_ended_run_say_why(tmp_path):
    seeded = seed_normal(tmp_path / "crashed", previews=False)
    try:
        seeded.experiments.put_state(
            "run:run-seed-1",
            dict(seeded.experiments.get_state("run:run-seed-1"), status="crashed", reason="OSError: disk full"),
        )
        seeded.experiments.put_state(
            "run:run-seed-2",
            dict(seeded.experiments.get_state("run:run-seed-2"), heartbeat_at="2020-01-01T00:00:00+00:00"),
        )
        text = page(seeded, "/activity")
        assert '<span class="reason">OSError: disk full</span>' in text
        assert "its heartbeat stopped: the process was killed" in text
    finally:
        seeded.close()
