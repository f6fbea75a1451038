"""The dashboard's pages on seeded stores (empty, failed-only, normal, hostile, huge), through Dashboard.handle,
plus the local server's artifact route with Range, the previews, and the chart figures."""

from __future__ import annotations

import http.client
import io
import json
import logging
import re
import threading
from html.parser import HTMLParser
from importlib import resources
from urllib.parse import parse_qsl, urlsplit

import av
import numpy as np
import plotly.graph_objects as go
import pytest

from markupsafe import escape

from aiv.cli import main as aiv_main
from aiv.errors import ClipError
from aiv.store.records import STATUSES
from aiv.web import charts, views
from aiv.web.app import PLOTLY_JS, Dashboard, Request, static_asset
from aiv.results import mean_preview_point, preview_quality_index
from aiv.video.previews import make_preview_mp4, preview_entry, recon_preview_key, source_preview_key
from aiv.web.server import RangeNotSatisfiable, make_server, parse_range
from web_seed import GPU_PRICE, RUN_SPEND_USD, HOSTILE, SEEDS, seed_normal, synthetic_clip

PAGES = (
    "/",
    "/experiments",
    "/experiments?sort=score",
    "/experiments?sort=score&split=validation",
    "/experiments?status=failed",
    "/leaderboard",
    "/leaderboard?split=validation",
    "/lineage",
    "/costs",
    "/activity",
)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """Every kind of seeded store, made once for the module (the huge one takes seconds)."""
    stores = {
        kind: SEEDS[kind](tmp_path_factory.mktemp(kind)) for kind in ("empty", "failed", "normal", "hostile", "huge")
    }
    stores["aws"] = seed_normal(tmp_path_factory.mktemp("aws"), aws_states=True, previews=False)
    yield stores
    for store in stores.values():
        store.close()


def dashboard(store) -> Dashboard:
    return Dashboard(store.experiments, store.artifacts)


def get(store, url: str, method: str = "GET", headers: dict | None = None):
    parts = urlsplit(url)
    return dashboard(store).handle(Request(method, parts.path, dict(parse_qsl(parts.query)), headers or {}))


def page(store, url: str) -> str:
    response = get(store, url)
    assert response.status == 200, response.body.decode()[-500:]
    assert response.content_type == "text/html; charset=utf-8"
    return response.body.decode()


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of each <script>."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[tuple[dict, str]] = []
        self._script: dict | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))

    def handle_data(self, data):
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None


def figures(text: str) -> dict[str, dict]:
    """The chart figures of a page by container id (each checked to be a valid plotly figure)."""
    found = {}
    for attrs, body in Tags(text).scripts:
        if attrs.get("type") == "application/json":
            figure = json.loads(body)
            go.Figure(figure)  # ValueError on any attribute plotly does not know
            found[attrs["data-chart"]] = figure
    return found


def row_ids(text: str) -> list[str]:
    """The experiment ids of the rows of the experiments table, in order."""
    if '<table class="experiments">' not in text:
        return []
    table = text.split('<table class="experiments">', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr>\s*<td><a class="exp" href="/experiments/([^"]+)"', table)


def next_link(text: str) -> str | None:
    hrefs = [attrs["href"] for tag, attrs in Tags(text).tags if tag == "a" and attrs.get("rel") == "next"]
    return hrefs[0] if hrefs else None


# --- every page on every store -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["empty", "failed", "normal", "hostile", "huge", "aws"])
@pytest.mark.parametrize("url", PAGES)
def test_every_page_renders(seeded, kind, url):
    text = page(seeded[kind], url)
    assert text.startswith("<!doctype html>") and '<nav aria-label="Dashboard pages">' in text
    assert "Traceback" not in text
    scripts = Tags(text).scripts
    assert all(a.get("src", "").startswith("/static/") or a.get("type") == "application/json" for a, _ in scripts)


@pytest.mark.parametrize("kind", ["normal", "hostile", "failed"])
def test_every_experiment_page_renders(seeded, kind):
    store = seeded[kind]
    for role, experiment_id in store.ids.items():
        text = page(store, f"/experiments/{experiment_id}")
        assert experiment_id in text, role
        figures(text)


def test_empty_store_says_so(seeded):
    store = seeded["empty"]
    overview = page(store, "/")
    assert "No succeeded experiment with a score yet." in overview and "no run yet" in overview
    assert "no schedule (local)" in overview and "not collected (local store)" in overview
    assert "No best score recorded yet." in overview and figures(overview) == {}
    assert "No experiments." in page(store, "/experiments")
    assert "No succeeded experiment with a train score yet." in page(store, "/leaderboard")
    assert "Nothing in progress." in page(store, "/activity") and "No run recorded yet." in page(store, "/activity")


def test_failed_only_store(seeded):
    store = seeded["failed"]
    overview = page(store, "/")
    assert "No succeeded experiment with a score yet." in overview
    counts = store.experiments.count_by_status()
    assert counts["failed"] == 3 and counts["rejected"] == 3
    listing = page(store, "/experiments")
    assert len(row_ids(listing)) == 6
    assert "forbidden import" in listing and "decode" in listing
    assert "No experiments with a train score." in page(store, "/experiments?sort=score")
    board = page(store, "/leaderboard")
    assert "No rate-distortion curves to draw." in board and figures(board) == {}


# --- overview ----------------------------------------------------------------------------------


def test_overview_of_a_running_campaign(seeded):
    store = seeded["normal"]
    text = page(store, "/")
    assert "▶ running" in text and "run-seed-2</code> on seed-host" in text
    best = store.experiments.get_experiment(store.ids["best"])
    for split in ("train", "validation"):
        for key in ("bd_rate_x264_psnr_y", "bd_rate_x265_psnr_y"):
            assert f"{best.summary_of(split).value(key):+.2f}%" in text
    history = store.experiments.get_state("best_history:bm-web-seed")["points"]
    chart = figures(text)["chart-best"]
    assert chart["data"][0]["y"] == [p["score"] for p in history]
    assert chart["data"][0]["x"] == [p["at"] for p in history]
    assert "no schedule (local)" in text and "not collected (local store)" in text
    runs = store.experiments.get_state("campaign")["recent_runs"]
    assert f"${RUN_SPEND_USD * len(runs):,.2f}" in text and f"over {len(runs)} run(s)" in text
    for status in STATUSES:
        assert f'href="/experiments?status={status}"' in text


def test_overview_with_the_aws_state_documents(seeded):
    store = seeded["aws"]
    text = page(store, "/")
    schedule = store.experiments.get_state("schedule")
    assert "enabled: <code>rate(6 hours)</code>" in text
    assert schedule["next_run_at"][:19].replace("T", " ") in text
    total = sum(store.experiments.get_state("costs")["by_category"].values())
    assert f"${total:,.2f} USD" in text


def test_overview_paused_schedule_without_live_run(tmp_path):
    store = SEEDS["failed"](tmp_path)
    store.experiments.put_state("schedule", {"enabled": False, "expression": "rate(1 day)", "next_run_at": None})
    text = page(store, "/")
    assert "⏸ paused" in text and "paused: <code>rate(1 day)</code>" in text and "none known" in text
    store.close()


# --- the experiments table ---------------------------------------------------------------------


def walk(store, url: str) -> list[list[str]]:
    """The row ids of every page, following the "next page" links."""
    pages = []
    while url:
        text = page(store, url)
        pages.append(row_ids(text))
        url = next_link(text)
        assert len(pages) < 500
    return pages


def test_pagination_visits_every_experiment_once(seeded):
    store = seeded["huge"]
    pages = walk(store, "/experiments?status=failed")
    seen = [i for p in pages for i in p]
    assert len(seen) == len(set(seen)) == store.experiments.count_by_status()["failed"]
    assert all(len(p) == views.PAGE_SIZE for p in pages[:-1])
    assert all(store.experiments.get_experiment(i).status == "failed" for i in seen[::97])


def test_first_page_of_the_huge_store(seeded):
    store = seeded["huge"]
    text = page(store, "/experiments")
    assert row_ids(text) == [e.id for e in store.experiments.list_experiments(limit=views.PAGE_SIZE).items]
    assert "first page" not in text and 'rel="next"' in text


def test_sort_by_score_is_ranked_and_paginated(seeded):
    store = seeded["huge"]
    first = page(store, "/experiments?sort=score&split=validation")
    ranked = [store.experiments.get_experiment(i).score_validation for i in row_ids(first)]
    assert ranked == sorted(ranked) and len(ranked) == views.PAGE_SIZE
    assert (
        row_ids(first)[0]
        == store.experiments.best_experiments(limit=1, split="validation", benchmark="bm-web-seed")[0].id
    )
    second = page(store, next_link(first))
    following = [store.experiments.get_experiment(i).score_validation for i in row_ids(second)]
    assert following[0] >= ranked[-1] and "first page" in second


def test_status_filter_and_row_contents(seeded):
    store = seeded["normal"]
    failed = page(store, "/experiments?status=failed")
    assert set(row_ids(failed)) == {store.ids["failed"], store.ids["cascade_failed"]}
    listing = page(store, "/experiments")
    assert "no point in this record" in listing  # the built-in seeds predate best_point
    best = store.experiments.get_experiment(store.ids["best"])
    assert f"{best.best_point['kbps']:,.1f}" in listing and f"{best.best_point['ssim_y']:,.4f}" in listing
    assert "claude / claude-sonnet-4-5" in listing and '<small title="rejected 3 times' in listing


@pytest.mark.parametrize(
    "url, needle",
    [
        ("/experiments?status=sleeping", "unknown status"),
        ("/experiments?sort=random", "unknown sort"),
        ("/experiments?sort=score&split=test", "unknown split"),
        ("/experiments?cursor=garbage!", "invalid page cursor"),
        ("/experiments?sort=score&status=failed", "only succeeded"),
        ("/leaderboard?split=test", "unknown split"),
        ("/leaderboard?clip=nope", "no clip"),
    ],
)
def test_bad_parameters_are_400_with_the_reason(seeded, url, needle):
    response = get(seeded["normal"], url)
    assert response.status == 400 and needle in response.body.decode()


# --- one experiment ----------------------------------------------------------------------------


def test_succeeded_experiment_page(seeded):
    store = seeded["normal"]
    experiment = store.experiments.get_experiment(store.ids["best"])
    result = json.loads(store.artifacts.get(experiment.result_key))
    text = page(store, f"/experiments/{experiment.id}")
    assert experiment.hypothesis in text
    charts_by_id = figures(text)
    clips = result["train"]["clips"] + result["validation"]["clips"]
    assert len(charts_by_id) == 3 * len(clips)  # PSNR-Y and VMAF rate-distortion, per-frame PSNR
    rd = charts_by_id["chart-train-0-rd"]
    # the parent's curve on the same frames is drawn with the anchors
    assert [t["name"] for t in rd["data"]] == ["candidate", f"parent {experiment.parents[0]}", "x264", "x265"]
    assert rd["data"][0]["x"] == [p["kbps"] for p in clips[0]["points"]] and rd["layout"]["xaxis"]["type"] == "log"
    frames = charts_by_id["chart-train-0-frames"]
    assert [t["y"] for t in frames["data"]] == [p["psnr_y_frames"] for p in clips[0]["points"]]
    for clip in clips:
        assert f'src="{store.artifacts.url(clip["preview"]["recon_key"])}"' in text
        assert f'src="{store.artifacts.url(clip["preview"]["source_key"])}"' in text
        assert clip["sha256"] in text
        for point in clip["points"]:
            assert f"{point['psnr_y']:,.3f}" in text
    assert text.count("Preview (H.264 re-encode of the decoded frames)") == len(clips)
    assert f'href="/experiments/{experiment.id}/codec.py"' in text
    assert f'href="/experiments/{experiment.id}/result.json"' in text
    assert store.ids["claude1"] in text  # the parent
    for child in ("evaluating", "proposed", "rejected"):
        assert store.ids[child] in text
    assert "Children (3)" in text
    assert '<span class="d-add">' in text and "variant" in text  # the diff against the parent
    assert f"{experiment.cost['input_tokens']:,}" in text and experiment.code_sha256 in text


def test_failed_experiment_page(seeded):
    store = seeded["normal"]
    text = page(store, f"/experiments/{store.ids['failed']}")
    assert "Failed at decode</strong> during the train evaluation on clip <code>moving_object</code>" in text
    assert "decode returned shape (23, 96, 128), expected (24, 96, 128)" in text
    assert "decode exited with status 0 after 1.2 s" in text  # the log tail
    assert "No preview stored for this clip." in text
    rd = figures(text)["chart-train-1-rd"]
    assert len(rd["data"][0]["x"]) == 2  # the two points measured before the failure
    assert [t["name"] for t in rd["data"]] == ["candidate", f"parent {store.ids['claude1']}"]  # no anchors yet


def test_rejected_and_proposed_experiment_pages(seeded):
    store = seeded["normal"]
    rejected = page(store, f"/experiments/{store.ids['rejected']}")
    assert rejected.count("rejected at <strong>policy</strong>") == 3 and "forbidden import &#39;os&#39;" in rejected
    proposed = page(store, f"/experiments/{store.ids['proposed']}")
    assert "No code stored." in proposed and "No evaluation record." in proposed
    assert "no code (the proposal produced none)" in proposed


def test_missing_result_artifact_is_said_not_fatal(seeded):
    store = seeded["huge"]
    orphan = next(
        e
        for e in store.experiments.list_experiments(status="succeeded", limit=100).items
        if not store.artifacts.exists(e.result_key)
    )
    text = page(store, f"/experiments/{orphan.id}")
    assert f"The store does not hold the artifact <code>{orphan.code_key}</code>" in text
    assert "No evaluation record." in text and f"{orphan.score:+.2f}%" in text


def test_missing_code_artifact_still_shows_the_results(tmp_path):
    store = seed_normal(tmp_path, previews=False)
    experiment = store.experiments.get_experiment(store.ids["claude1"])
    store.artifacts.path(experiment.code_key).unlink()
    text = page(store, f"/experiments/{experiment.id}")
    assert f"The store does not hold the artifact <code>{experiment.code_key}</code>" in text
    assert "chart-train-0-rd" in text and "No code stored." in text
    assert get(store, f"/experiments/{experiment.id}/codec.py").status == 404
    store.close()


def test_not_comparable_shows_the_reason_not_a_number(seeded):
    store = seeded["normal"]
    text = page(store, f"/experiments/{store.ids['not_comparable']}")
    assert (
        '<details class="nc"><summary>not comparable</summary><span class="reason">moving_object: quality ranges '
        "overlap by 0.4 dB" in text
    )
    failed = page(store, f"/experiments/{store.ids['failed']}")
    assert "not comparable" not in failed  # no evaluation finished: nothing to compare, nothing claimed


def test_downloads(seeded):
    store = seeded["normal"]
    experiment = store.experiments.get_experiment(store.ids["best"])
    code = get(store, f"/experiments/{experiment.id}/codec.py")
    assert code.status == 200 and code.body == store.artifacts.get(experiment.code_key)
    assert code.headers["Content-Disposition"] == f'attachment; filename="{experiment.id}.py"'
    result = get(store, f"/experiments/{experiment.id}/result.json")
    assert result.status == 200 and json.loads(result.body) == json.loads(store.artifacts.get(experiment.result_key))
    assert get(store, f"/experiments/{store.ids['proposed']}/codec.py").status == 404
    assert get(store, f"/experiments/{store.ids['proposed']}/result.json").status == 404


# --- leaderboard, costs, activity --------------------------------------------------------------


def test_leaderboard_and_pareto_charts(seeded):
    store = seeded["normal"]
    text = page(store, "/leaderboard")
    best = store.experiments.best_experiments(limit=50, benchmark="bm-web-seed")
    assert re.findall(r'<td class="num">\d+</td><td><a class="exp" href="/experiments/([^"]+)"', text) == [
        e.id for e in best
    ]
    by_id = figures(text)
    rate, speed = by_id["chart-pareto-rate"], by_id["chart-pareto-speed"]
    names = [t["name"] for t in rate["data"]]
    assert names[-3:] == ["x264", "x265", "Pareto front of the candidates"] and len(names) == len(best) + 3
    every = [(x, y) for t in rate["data"][:-3] for x, y in zip(t["x"], t["y"])]
    front = list(zip(rate["data"][-1]["x"], rate["data"][-1]["y"]))
    assert front == charts.pareto_front(every, minimise_x=True, maximise_y=True)
    assert sorted(speed["data"][0]["y"]) == sorted(e.score for e in best)
    other = page(store, "/leaderboard?clip=light_cut")
    assert "light_cut: rate against PSNR-Y" in figures(other)["chart-pareto-rate"]["layout"]["title"]["text"]


def test_huge_leaderboard_reads_only_the_best_results(seeded):
    store = seeded["huge"]
    text = page(store, "/leaderboard")
    rate = figures(text)["chart-pareto-rate"]
    assert len(rate["data"]) == views.PARETO_RESULTS + 3
    assert "No train evaluation record for" not in text


def test_costs_local_and_aws(seeded):
    local = page(seeded["normal"], "/costs")
    assert "Not collected (local store)" in local
    history = seeded["normal"].experiments.get_state("best_history:bm-web-seed")["points"]
    seed = seeded["normal"].experiments.get_experiment(seeded["normal"].ids["hybrid"])  # the better seed
    gain = seed.score - history[-1]["score"]
    assert f"improved the best train score by {gain:,.2f} points of BD-rate over the best seed" in local
    runs = seeded["normal"].experiments.get_state("campaign")["recent_runs"]
    assert f"of model spend that is <strong>${RUN_SPEND_USD * len(runs) / gain:.4f} per point" in local
    claude = [e for e in seeded["normal"].experiments.list_experiments(limit=200).items if e.proposer == "claude"]
    spent = sum(e.cost["llm_usd"] for e in claude)
    assert re.search(rf'claude / claude-sonnet-4-5</th><td class="num">{len(claude)}</td>', local)
    assert f"${spent:.4f}" in local
    aws = page(seeded["aws"], "/costs")
    costs = seeded["aws"].experiments.get_state("costs")
    for name, usd in costs["by_category"].items():
        shown = f"${usd:,.2f}" if usd >= 10 else f"${usd:.4f}"
        assert f'<th scope="row">{name}</th><td class="num">{shown}</td>' in aws
    daily = figures(aws)["chart-daily-cost"]
    assert {t["name"] for t in daily["data"]} == set(costs["by_category"])
    assert all(t["marker"]["pattern"]["shape"] for t in daily["data"][:4])
    assert " per point</strong>" in aws


def cost_row(text: str, experiment_id: str) -> str:
    """The costs page's per-experiment row of one experiment."""
    table = text.split('id="per-exp-h"', 1)[1].split("</table>", 1)[0]
    return table.split(f'href="/experiments/{experiment_id}"', 1)[1].split("</tr>", 1)[0]


def test_gpu_job_seconds_and_spend_with_their_basis(seeded):
    store = seeded["normal"]
    priced, local, never = (
        store.experiments.get_experiment(store.ids[role]).cost for role in ("best", "claude1", "hybrid")
    )
    assert priced["batch_s"] == 312.4
    assert priced["gpu_usd"] == pytest.approx(312.4 * GPU_PRICE.usd_per_hour / 3600, abs=1e-6)
    assert local["batch_s"] == 187.9 and local["gpu_usd"] is None
    assert "batch_s" not in never  # a built-in seed the GPU job never ran
    basis = escape(GPU_PRICE.basis)
    text = page(store, f"/experiments/{store.ids['best']}")
    assert '<dt>GPU job</dt><dd class="num">312.4 s (the Batch job\'s wall time, every attempt)</dd>' in text
    assert (
        f'<dt>GPU spend</dt><dd class="num">${priced["gpu_usd"]:.4f} <small class="meta">({basis})</small></dd>' in text
    )
    text = page(store, f"/experiments/{store.ids['claude1']}")
    assert '<dt>GPU job</dt><dd class="num">187.9 s' in text and '<dt>GPU spend</dt><dd class="num">—</dd>' in text
    text = page(store, f"/experiments/{store.ids['hybrid']}")
    assert '<dt>GPU job</dt><dd class="num">—</dd><dt>GPU spend</dt><dd class="num">—</dd>' in re.sub(
        r"\n\s*", "", text
    )
    costs = page(store, "/costs")
    assert cost_row(costs, store.ids["best"]).endswith(
        f'<td class="num">312.4</td><td class="num" title="{basis}">${priced["gpu_usd"]:.4f}</td>'
    )
    assert cost_row(costs, store.ids["claude1"]).endswith('<td class="num">187.9</td><td class="num">—</td>')
    assert cost_row(costs, store.ids["hybrid"]).endswith('<td class="num">—</td><td class="num">—</td>')


def test_activity(seeded):
    store = seeded["normal"]
    text = page(store, "/activity")
    assert '<code>run-seed-2</code></td><td><span class="status status-running">▶ running</span></td><td>yes' in text
    assert '<code>run-seed-1</code></td><td><span class="status status-finished">■ finished</span></td><td>no' in text
    assert store.ids["evaluating"] in text and "step 3 of 4: evaluate" in text
    assert store.ids["proposed"] in text and "step 1 of 4: propose" in text
    assert "run-seed-2 started: 10 iterations" in text and "cascade: first 8 frames" in text


# --- hostile input -----------------------------------------------------------------------------

HOSTILE_URLS = ("/", "/experiments", "/leaderboard", "/costs", "/activity", "/experiments?sort=score")


def assert_inert(text: str) -> None:
    """No script but ours, no event-handler attribute, no tag the hostile text tried to open."""
    parsed = Tags(text)
    for attrs, body in parsed.scripts:
        assert attrs.get("src", "").startswith("/static/") or attrs.get("type") == "application/json", attrs
        assert "<" not in body and ">" not in body  # JSON blocks: nothing that can close or open a tag
    for tag, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert tag != "img"
    assert "<script>alert" not in text


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_hostile_text_is_inert_on_listing_pages(seeded, url):
    assert_inert(page(seeded["hostile"], url))


def test_hostile_experiment_pages_are_inert(seeded):
    store = seeded["hostile"]
    for role in ("hostile", "hostile_failed"):
        text = page(store, f"/experiments/{store.ids[role]}")
        assert_inert(text)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;/script&gt;&#34; onload=&#34;alert(2)&#34;" in text
        assert "&#34;&#34;&#34;&lt;/script&gt;&lt;script&gt;alert(4)&lt;/script&gt;&#34;&#34;&#34;" in text
        for figure in figures(text).values():
            for trace in figure["data"]:
                assert "<" not in trace["name"]
            assert "<" not in figure["layout"]["title"]["text"]
    charts_of_hostile = figures(page(store, f"/experiments/{store.ids['hostile']}"))
    title = charts_of_hostile["chart-train-0-rd"]["layout"]["title"]["text"]
    assert title.startswith("&lt;script&gt;alert(1)") and HOSTILE not in title


def test_hostile_json_blocks_round_trip(seeded):
    """The escaped JSON in a script block parses back to exactly the figure the view built."""
    store = seeded["hostile"]
    view = views.experiment_detail(store.experiments, store.artifacts, store.ids["hostile"])
    built = {f["id"]: f["figure"] for split in view["splits"] for clip in split["clips"] for f in clip["figures"]}
    assert figures(page(store, f"/experiments/{store.ids['hostile']}")) == json.loads(json.dumps(built))


# --- errors, methods, static -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/nope",
        "/experiments/exp-none",
        "/experiments/a/b/c",
        "/static/nope.js",
        "/static/../app.py",
        "/experiments/exp-none/codec.py",
    ],
)
def test_not_found(seeded, url):
    response = get(seeded["normal"], url)
    assert response.status == 404 and "Not found" in response.body.decode()
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("url", ["/", "/experiments", "/nope"])
def test_writes_are_405(seeded, method, url):
    response = get(seeded["normal"], url, method=method)
    assert response.status == 405 and response.headers["Allow"] == "GET, HEAD"


def test_a_failing_page_is_a_500_without_the_trace(seeded, caplog):
    store = seeded["normal"]

    class Broken:
        def __getattr__(self, name):
            return getattr(store.experiments, name)

        def count_by_status(self):
            raise RuntimeError("secret-token-123 leaked by a driver")

    with caplog.at_level(logging.ERROR, logger="aiv.web"):
        response = Dashboard(Broken(), store.artifacts).handle(Request("GET", "/"))
    body = response.body.decode()
    assert response.status == 500 and "secret-token-123" not in body and "Traceback" not in body
    error_id = re.search(r"error id ([0-9a-f]{12})", body).group(1)
    assert error_id in caplog.text and "secret-token-123" in caplog.text


def test_static_files_are_versioned_and_cached(seeded):
    text = page(seeded["normal"], f"/experiments/{seeded['normal'].ids['best']}")
    sources = [a["src"] for a, _ in Tags(text).scripts if "src" in a]
    assert [s.split("?")[0] for s in sources] == ["/static/plotly.min.js", "/static/dashboard.js"]
    plotly_js = get(seeded["normal"], sources[0])
    assert plotly_js.status == 200 and plotly_js.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert plotly_js.body == (resources.files("plotly") / "package_data" / PLOTLY_JS).read_bytes()
    assert sources[0].endswith(static_asset(PLOTLY_JS).digest)
    again = get(seeded["normal"], sources[0], headers={"if-none-match": plotly_js.headers["ETag"]})
    assert again.status == 304 and again.body == b""
    css = get(seeded["normal"], "/static/style.css")
    assert css.status == 200 and css.content_type.startswith("text/css")


def test_security_headers(seeded):
    response = get(seeded["normal"], "/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- bounded queries ---------------------------------------------------------------------------


class CountingStore:
    """Wraps an ExperimentStore and records every call with its arguments."""

    def __init__(self, store):
        self.store, self.calls = store, []

    def __getattr__(self, name):
        method = getattr(self.store, name)

        def call(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            return method(*args, **kwargs)

        return call


@pytest.mark.parametrize("url", PAGES + ("/experiments/BEST",))
def test_pages_make_a_bounded_number_of_indexed_queries(seeded, url):
    store = seeded["huge"]
    counting = CountingStore(store.experiments)
    path = url.replace("BEST", store.ids["best"])
    parts = urlsplit(path)
    response = Dashboard(counting, store.artifacts).handle(Request("GET", parts.path, dict(parse_qsl(parts.query))))
    assert response.status == 200
    assert len(counting.calls) <= 200
    allowed = {
        "get_experiment",
        "get_state",
        "list_experiments",
        "ranked_experiments",
        "best_experiments",
        "count_by_status",
        "events",
        "recent_events",
        "children",
    }
    assert {name for name, _, _ in counting.calls} <= allowed
    for name, args, kwargs in counting.calls:
        if name in ("list_experiments", "ranked_experiments", "best_experiments", "recent_events"):
            assert kwargs.get("limit", 50) <= 200


def test_each_page_says_its_benchmark_and_another_can_be_chosen(seeded):
    store = seeded["normal"]
    for url in ("/", "/leaderboard", "/costs", "/experiments?sort=score", f"/experiments/{store.ids['best']}"):
        assert "Scores of benchmark <code>bm-web-seed</code>" in page(store, url), url
    assert "Every benchmark" in page(store, "/experiments")
    refused = get(store, "/leaderboard?benchmark=bm-nope")
    assert refused.status == 400 and "no benchmark" in refused.body.decode()
    other = page(store, "/leaderboard?benchmark=unknown")  # a benchmark the store holds no scores of
    assert "Scores of benchmark <code>unknown</code>" in other and store.ids["best"] not in other


# --- the local server: pages over HTTP and artifacts with Range ---------------------------------


@pytest.fixture(scope="module")
def server(seeded):
    store = seeded["normal"]
    httpd = make_server(dashboard(store), store.artifacts, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield store, httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def fetch(port: int, path: str, method: str = "GET", headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def preview_key(store) -> str:
    result = json.loads(store.artifacts.get(store.experiments.get_experiment(store.ids["best"]).result_key))
    return result["train"]["clips"][0]["preview"]["recon_key"]


def test_server_serves_pages_and_refuses_writes(server):
    store, port = server
    response, body = fetch(port, "/experiments?status=failed")
    assert response.status == 200 and store.ids["failed"].encode() in body
    response, _ = fetch(port, "/", method="POST")
    assert response.status == 405 and response.getheader("Allow") == "GET, HEAD"
    response, body = fetch(port, "/", method="HEAD")
    assert response.status == 200 and body == b"" and int(response.getheader("Content-Length")) > 1000


def test_artifact_route_whole_and_ranges(server):
    store, port = server
    key = preview_key(store)
    data = store.artifacts.get(key)
    response, body = fetch(port, store.artifacts.url(key))
    assert response.status == 200 and body == data and response.getheader("Content-Type") == "video/mp4"
    assert response.getheader("Accept-Ranges") == "bytes"
    for header, start, end in (
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, len(data) - 1),
        ("bytes=-50", len(data) - 50, len(data) - 1),
        (f"bytes=10-{len(data) + 999}", 10, len(data) - 1),
    ):
        response, body = fetch(port, store.artifacts.url(key), headers={"Range": header})
        assert response.status == 206, header
        assert body == data[start : end + 1]
        assert response.getheader("Content-Range") == f"bytes {start}-{end}/{len(data)}"
    response, body = fetch(port, store.artifacts.url(key), headers={"Range": f"bytes={len(data)}-"})
    assert response.status == 416 and response.getheader("Content-Range") == f"bytes */{len(data)}"
    response, body = fetch(port, store.artifacts.url(key), method="HEAD", headers={"Range": "bytes=0-9"})
    assert response.status == 206 and body == b"" and response.getheader("Content-Length") == "10"


def test_artifact_route_types_and_refusals(server):
    store, port = server
    code_key = store.experiments.get_experiment(store.ids["best"]).code_key
    response, body = fetch(port, store.artifacts.url(code_key))
    assert response.getheader("Content-Type") == "text/plain; charset=utf-8" and body.startswith(b"# variant")
    response, _ = fetch(port, store.artifacts.url(f"results/{store.ids['best']}.json"))
    assert response.getheader("Content-Type") == "application/json"
    for path in (
        "/artifacts/../lab.sqlite",
        "/artifacts/%2e%2e/lab.sqlite",
        "/artifacts/code/none.py",
        "/artifacts/",
        "/artifacts//etc/passwd",
    ):
        response, body = fetch(port, path)
        assert response.status == 404, path
        assert b"SQLite" not in body
    response, _ = fetch(port, store.artifacts.url(code_key), method="DELETE")
    assert response.status == 405 and store.artifacts.exists(code_key)


@pytest.mark.parametrize(
    "header, size, expected",
    [
        (None, 100, None),
        ("bytes=0-0", 100, (0, 0)),
        ("bytes=5-", 100, (5, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=-500", 100, (0, 99)),
        ("bytes=90-200", 100, (90, 99)),
        ("bytes=0-1,5-6", 100, None),
        ("items=0-5", 100, None),
    ],
)
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    "header, size", [("bytes=100-", 100), ("bytes=5-4", 100), ("bytes=-0", 100), ("bytes=0-", 0), ("bytes=-", 100)]
)
def test_parse_range_unsatisfiable(header, size):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


def test_serve_command_refuses_a_missing_store(tmp_path, capsys):
    assert aiv_main(["serve", "--store", str(tmp_path / "none")]) == 2
    assert "no store at" in capsys.readouterr().err


# --- previews ----------------------------------------------------------------------------------


def test_preview_is_a_faststart_h264_mp4_of_the_frames():
    clip = synthetic_clip("preview-test", frames=12)
    data = make_preview_mp4(clip.y, clip.u, clip.v, clip.fps)
    assert data.find(b"moov") < data.find(b"mdat")  # the index first: playable while downloading
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.codec_context.width, stream.codec_context.height) == (clip.width, clip.height)
        assert stream.average_rate == 30
        decoded = [frame.to_ndarray()[: clip.height] for frame in container.decode(video=0)]  # the Y plane
    assert len(decoded) == clip.frames
    error = np.abs(np.stack(decoded).astype(int) - clip.y).mean()
    assert error < 2.0  # CRF 16: close to the frames it shows


@pytest.mark.parametrize(
    "planes, fps, needle",
    [
        ("float", 30.0, "uint8"),
        ("odd", 30.0, "4:2:0"),
        ("ok", 0.0, "frame rate"),
        ("empty", 30.0, "no frames"),
    ],
)
def test_preview_refuses_bad_planes(planes, fps, needle):
    y, u, v = np.zeros((2, 16, 16), np.uint8), np.zeros((2, 8, 8), np.uint8), np.zeros((2, 8, 8), np.uint8)
    if planes == "float":
        y = y.astype(np.float32)
    elif planes == "odd":
        u = np.zeros((2, 7, 8), np.uint8)
    elif planes == "empty":
        y, u, v = y[:0], u[:0], v[:0]
    with pytest.raises(ClipError, match=needle):
        make_preview_mp4(y, u, v, fps)


def test_preview_keys_and_quality_point():
    assert recon_preview_key("exp-1", "foreman cif/../x") == "previews/exp-1/foreman_cif_.._x.mp4"
    assert source_preview_key("ab" * 32) == f"previews/source/{'ab' * 32}.mp4"
    qualities = ((0.5,), (0.2, 0.8), (0.2, 0.4, 0.6, 0.8), (0.1, 0.3, 0.5))
    assert [preview_quality_index(q) for q in qualities] == [0, 1, 2, 1]
    with pytest.raises(ValueError):
        preview_quality_index(())
    clip = synthetic_clip("pan_zoom")
    entry = preview_entry("exp-2", clip, 0.6)
    assert entry == {
        "quality": 0.6,
        "recon_key": "previews/exp-2/pan_zoom.mp4",
        "source_key": f"previews/source/{clip.sha256}.mp4",
    }


def test_preview_keys_are_valid_artifact_keys(tmp_path):
    from aiv.store.local_artifacts import LocalArtifactStore

    artifacts = LocalArtifactStore(tmp_path)
    for name in ("../../etc/passwd", "a/b", ".hidden", "..", "clip\\name", HOSTILE):
        artifacts.put(recon_preview_key("exp-1", name), b"x")  # ValueError for a key that escapes
        assert recon_preview_key("exp-1", name).count("/") == 2


# --- views and charts in isolation -------------------------------------------------------------


def test_best_point_is_the_preview_quality_point_mean_over_clips():
    clips = [
        {
            "frames": 10,
            "points": [
                {
                    "quality": q,
                    "kbps": 100 * (i + 1) * (j + 1),
                    "psnr_y": 30 + j + i,
                    "ssim_y": 0.9 + 0.01 * j,
                    "vmaf": None if i else 50.0 + j,
                    "encode_s": 0.5,
                    "decode_s": 0.25,
                }
                for j, q in enumerate((0.2, 0.4, 0.6))
            ],
        }
        for i in range(2)
    ]
    point = mean_preview_point({"clips": clips})
    assert point == {
        "quality": 0.4,
        "kbps": (200 + 400) / 2,
        "psnr_y": (31 + 32) / 2,
        "ssim_y": pytest.approx(0.91),
        "vmaf": None,
        "encode_fps": 60 / 3.0,
        "decode_fps": 60 / 1.5,
    }
    assert mean_preview_point({"clips": []}) is None and mean_preview_point(None) is None


@pytest.mark.parametrize(
    "points, minimise_x, maximise_y, front",
    [
        ([(1, 30), (2, 29), (3, 35), (4, 35), (5, 40)], True, True, [(1, 30), (3, 35), (5, 40)]),
        (
            [(100, 5.0), (50, -3.0), (10, -9.0), (60, 1.0)],
            False,
            False,
            [(100, 5.0), (60, 1.0), (50, -3.0), (10, -9.0)],
        ),
        ([(100, 5.0), (50, 6.0), (10, -9.0)], False, False, [(100, 5.0), (10, -9.0)]),
        ([], True, True, []),
    ],
)
def test_pareto_front(points, minimise_x, maximise_y, front):
    assert charts.pareto_front(points, minimise_x, maximise_y) == front


def test_log_axis_ticks_are_round_numbers_in_range():
    axis = charts.log_axis("kbps", [230.0, 1800.0])
    assert axis["type"] == "log" and axis["tickvals"] == [300, 500, 700, 1000, 1500]
    assert axis["ticktext"] == ["300", "500", "700", "1,000", "1,500"]
    assert charts.log_axis("fps", [0.4, 90.0])["tickvals"] == [0.5, 1, 2, 5, 10, 20, 50]
    assert "tickvals" not in charts.log_axis("kbps", [])


def test_chart_text_is_escaped_for_plotly():
    figure = charts.rd_chart({"name": "<b>x</b>&", "points": [], "anchors": {}}, "psnr_y")
    assert figure["layout"]["title"]["text"].startswith("&lt;b&gt;x&lt;/b&gt;&amp;")
