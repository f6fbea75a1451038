"""What each dashboard page shows, as plain data (no HTML): by-key and indexed store queries only.

Every function here reads a bounded number of records: a page of a listing, the best N, one
experiment and its neighbours, a few state documents. Nothing reads the whole store, so a page
costs the same at 100 experiments as at 10,000.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import urlencode

from aiv.errors import UsageError
from aiv.liveness import STALE_AFTER_S, run_is_alive
from aiv.benchmark import choose_benchmark, current_benchmark, known_benchmarks
from aiv.names import CAMPAIGN_STATE, COSTS_STATE, SCHEDULE_STATE, best_history_key
from aiv.read_model import ExperimentView, experiment_view, leaderboard_rows
from aiv.results import mean_preview_point
from aiv.store.ports import ArtifactStore, ExperimentStore, require_experiment
from aiv.store.records import ACTIVE_STATUSES, SEED_PROPOSERS, STATUSES, Experiment
from aiv.store.runs import RunState, read_run
from aiv.web import charts

PAGE_SIZE = 50  # experiments per page of the table
LEADERBOARD_SIZE = 50
PARETO_RESULTS = 12  # the best experiments whose full results the leaderboard's Pareto charts read
ACTIVE_SHOWN = 50  # active experiments on the activity page, each with its latest event
RECENT_EVENTS = 100
COST_WINDOW = 200  # the newest experiments the costs page sums per proposer
COST_ROWS = 50
GAIN_ROWS = 20  # leaderboard experiments whose BD-rate gain over their parent is priced
CHILDREN_SHOWN = 100
LOG_TAIL = 40  # events shown as a failed experiment's log tail
LIVE_REFRESH_S = 20  # overview and activity reload themselves this often while a run is live
LINEAGE_BEST = 40  # the best experiments whose ancestry the lineage tree shows
LINEAGE_DEPTH = 60  # ancestors followed from one experiment at most (a guard against a cycle in bad data)
SPLITS = ("train", "validation")
SORTS = ("time", "score")
STAGES = ("propose", "validate", "evaluate", "record")


class NotFound(Exception):
    """The page or the thing it names does not exist (HTTP 404)."""


class BadRequest(Exception):
    """A query parameter that makes no sense (HTTP 400); the message says which and why."""


# --- shared pieces -------------------------------------------------------------------------------


def _age_s(iso: str | None, now: datetime) -> float | None:
    if not iso:
        return None
    return (now - datetime.fromisoformat(iso)).total_seconds()


def run_states(experiments: ExperimentStore, campaign: dict, now: datetime) -> list[dict]:
    """The campaign's recent runs, newest first, each with its registration and whether it is alive."""
    runs = []
    for run_id in campaign.get("recent_runs", []):
        run = read_run(experiments, run_id)
        if run is None:
            runs.append(
                {
                    "run_id": run_id,
                    "status": "unknown",
                    "alive": False,
                    "host": None,
                    "pid": None,
                    "started_at": None,
                    "heartbeat_age_s": None,
                    "options": {},
                    "reason": "the store holds no registration of this run",
                }
            )
            continue
        alive = run_is_alive(run)
        runs.append(
            {
                "run_id": run_id,
                "status": run.status,
                "alive": alive,
                "host": run.host,
                "pid": run.pid,
                "started_at": run.started_at,
                "heartbeat_age_s": _age_s(run.heartbeat_at, now),
                "options": run.options,
                "reason": run.reason or _silent_end(run, alive),
            }
        )
    return runs


def _silent_end(run: RunState, alive: bool) -> str | None:
    """Why a run that says "running" is not alive: its process ended without closing it."""
    if run.status != "running" or alive:
        return None
    return (
        "its heartbeat stopped: the process was killed or its machine stopped before it closed the run "
        "(the next run closes the experiments it left open)"
    )


def schedule_view(experiments: ExperimentStore) -> dict | None:
    """The EventBridge schedule {"enabled", "expression", "next_run_at"} (written on AWS only), or None."""
    schedule = experiments.get_state(SCHEDULE_STATE)
    if schedule is None:
        return None
    return {
        "enabled": bool(schedule.get("enabled")),
        "expression": schedule.get("expression"),
        "next_run_at": schedule.get("next_run_at"),
    }


def cloud_costs(experiments: ExperimentStore) -> dict | None:
    """The daily Cost Explorer summary (written on AWS only) with its total, or None when not collected."""
    costs = experiments.get_state(COSTS_STATE)
    if costs is None:
        return None
    by_category = costs.get("by_category") or {}
    return {
        "updated_at": costs.get("updated_at"),
        "currency": costs.get("currency", "USD"),
        "start": costs.get("start"),
        "by_category": by_category,
        "daily": costs.get("daily") or [],
        "total": sum(by_category.values()),
    }


def spend_view(experiments: ExperimentStore) -> dict | None:
    """Model spend {"llm_usd", "input_tokens", "output_tokens", "runs"} summed over every run's own state
    document (each run writes its exact total; a store older than the "runs" list has its recent runs
    only), or None when no run recorded any. One read by key per run."""
    campaign = experiments.get_state(CAMPAIGN_STATE) or {}
    runs = campaign.get("runs", campaign.get("recent_runs", []))
    spends = [run.spend for run in (read_run(experiments, run_id) for run_id in runs) if run is not None]
    if not spends:
        return None
    return {
        "llm_usd": round(sum(s.llm_usd for s in spends), 6),
        "input_tokens": sum(s.input_tokens for s in spends),
        "output_tokens": sum(s.output_tokens for s in spends),
        "runs": len(spends),
    }


def best_seed(experiments: ExperimentStore, history: list[dict]) -> dict | None:
    """{"id", "score"} of the best seed (a built-in or imported codec) among the best-score history's points.

    Seeds are measured before the search proposes anything, so the best of them is a new best when
    recorded; reading the history's experiments keeps this to a few reads by key.
    """
    seeds = []
    for point in history:
        experiment = experiments.get_experiment(point["experiment_id"])
        if experiment is not None and experiment.proposer in SEED_PROPOSERS:
            seeds.append({"id": experiment.id, "score": point["score"]})
    return min(seeds, key=lambda seed: seed["score"]) if seeds else None


def search_progress(history: list[dict], seed: dict | None) -> float | None:
    """Points of BD-rate the search gained over the best seed (positive: better), or None before any gain."""
    if seed is None or not history:
        return None
    gain = seed["score"] - history[-1]["score"]
    return gain if gain > 0 else None


def summary_value(experiment: Experiment, split: str, key: str) -> dict:
    """{"value", "reason", "caveat"}: one headline number of an experiment's summary, or None and why it is
    not comparable; the caveat names clips whose BD-rate rests on fewer points than the CTC use.

    All are None when the experiment has no summary of `split` (it failed or is still running).
    """
    summary = experiment.summary_of(split)
    if summary is None:
        return {"value": None, "reason": None, "caveat": None}
    value = summary.value(key)
    return {
        "value": value,
        "reason": None if value is not None else summary.not_comparable.get(key),
        "caveat": summary.caveats.get(key) if value is not None else None,
    }


def experiment_row(experiment: Experiment) -> dict:
    """One experiment as a row of a table."""
    failure = experiment.failure or {}
    attempts = experiment.attempts
    return {
        "id": experiment.id,
        "created_at": experiment.created_at,
        "parents": experiment.parents,
        "proposer": experiment.proposer,
        "model": experiment.model,
        "status": experiment.status,
        "stage": experiment.stage,
        "score": experiment.score,
        "score_validation": experiment.score_validation,
        "x265": summary_value(experiment, "train", "bd_rate_x265_psnr_y"),
        "point": experiment.best_point,
        "cost": experiment.cost,
        "failure_stage": failure.get("stage") or (attempts[-1]["stage"] if attempts else None),
        "failure_reason": failure.get("reason") or (attempts[-1]["reason"] if attempts else None),
        "hypothesis": experiment.hypothesis,
    }


def _load_result(artifacts: ArtifactStore, experiment: Experiment) -> dict | None:
    """The experiment's evaluation record, or None when it has none or the artifact is missing."""
    key = experiment.result_key
    if not key:
        return None
    try:
        return json.loads(artifacts.get(key))
    except KeyError:
        return None


def benchmark_choice(experiments: ExperimentStore, requested: str | None) -> dict:
    """Which benchmark a page shows (`?benchmark=ID`, else the store's current one) and the others to choose from."""
    try:
        chosen = choose_benchmark(experiments, requested)
    except ValueError as error:
        raise BadRequest(str(error)) from None
    known = known_benchmarks(experiments)
    return {"id": chosen, "current": known["current"], "known": sorted(known["known"])}


# --- pages ---------------------------------------------------------------------------------------


def overview(experiments: ExperimentStore, benchmark: str | None = None) -> dict:
    """Campaign status, counts, the best headline numbers, best score over time, spend."""
    now = datetime.now(timezone.utc)
    campaign = experiments.get_state(CAMPAIGN_STATE) or {}
    runs = run_states(experiments, campaign, now)
    last_run = {"id": campaign.get("last_run"), "at": campaign.get("last_run_at")}
    schedule = schedule_view(experiments)
    shown = benchmark_choice(experiments, benchmark)
    best = experiments.best_experiments(limit=1, split="train", benchmark=shown["id"])
    best_validation = experiments.best_experiments(limit=1, split="validation", benchmark=shown["id"])
    history = (experiments.get_state(best_history_key(shown["id"])) or {}).get("points", [])
    seed = best_seed(experiments, history)
    headline = None
    if best:
        headline = [
            {
                "split": split,
                **{anchor: summary_value(best[0], split, f"bd_rate_{anchor}_psnr_y") for anchor in ("x264", "x265")},
                "vmaf": summary_value(best[0], split, "bd_rate_x264_vmaf"),
            }
            for split in SPLITS
        ]
    running = [run for run in runs if run["alive"]]
    if running:
        status = "running"
    elif schedule is not None and not schedule.get("enabled"):
        status = "paused"
    else:
        status = "idle"
    return {
        "benchmark": shown,
        "status": status,
        "running": running,
        "last_run": last_run,
        "schedule": schedule,
        "counts": experiments.count_by_status(),
        "best": best[0] if best else None,
        "best_validation": best_validation[0] if best_validation else None,
        "headline": headline,
        "history": history,
        "seed": seed,
        "progress": search_progress(history, seed),
        "chart": charts.best_score(history, seed["score"] if seed else None) if history else None,
        "costs": cloud_costs(experiments),
        "spend": spend_view(experiments),
        "refresh_s": LIVE_REFRESH_S if running else None,
    }


def experiment_list(
    experiments: ExperimentStore,
    status: str | None,
    sort: str,
    split: str,
    cursor: str | None,
    benchmark: str | None = None,
) -> dict:
    """A page of the experiments table: newest first (any status, every benchmark) or ranked by score
    (succeeded only, within one benchmark)."""
    if status is not None and status not in STATUSES:
        raise BadRequest(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    if sort not in SORTS:
        raise BadRequest(f"unknown sort {sort!r}; use time or score")
    if split not in SPLITS:
        raise BadRequest(f"unknown split {split!r}; use train or validation")
    if sort == "score" and status not in (None, "succeeded"):
        raise BadRequest("only succeeded experiments have a score: sort=score takes no other status")
    shown = benchmark_choice(experiments, benchmark) if sort == "score" else None
    try:
        if shown is not None:
            page = experiments.ranked_experiments(split=split, limit=PAGE_SIZE, cursor=cursor, benchmark=shown["id"])
        else:
            page = experiments.list_experiments(status=status, limit=PAGE_SIZE, cursor=cursor)
    except ValueError as error:
        raise BadRequest(str(error)) from None
    params = {
        k: v
        for k, v in (
            ("status", status),
            ("sort", sort),
            ("split", split if sort == "score" else None),
            ("benchmark", shown["id"] if shown and benchmark else None),
        )
        if v
    }
    return {
        "benchmark": shown,
        "rows": [experiment_row(e) for e in page.items],
        "status": status,
        "sort": sort,
        "split": split,
        "counts": experiments.count_by_status(),
        "statuses": STATUSES,
        "first_page": cursor is not None,
        "query": urlencode(params),
        "next_query": urlencode(params | {"cursor": page.cursor}) if page.cursor else None,
    }


def diff_lines(diff: str | None) -> list[tuple[str, str]]:
    """A unified diff as (kind, line) pairs, kind one of add, del, hunk, file, same."""
    lines = []
    for line in (diff or "").splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        else:
            kind = {"+": "add", "-": "del"}.get(line[:1], "same")
        lines.append((kind, line))
    return lines


def _clip_view(
    split: str,
    index: int,
    clip: dict,
    artifacts: ArtifactStore,
    parent: tuple[str, dict] | None,
    vs_parent: dict | None,
) -> dict:
    """One clip of an evaluation: its charts (with the parent's curve on the same frames), preview and the
    BD-rate against the parent measured at evaluation."""
    slug, name, figures = f"{split}-{index}", clip["name"], []
    curve = (f"parent {parent[0]}", parent[1]["points"]) if parent and parent[1].get("points") else None
    against = " and the parent" if curve else ""
    if clip["points"]:
        figures.append(
            {
                "id": f"chart-{slug}-rd",
                "figure": charts.rd_chart(clip, "psnr_y", parent=curve),
                "label": f"PSNR-Y against bitrate on {name}: this codec, x264, x265{against}",
            }
        )
        if any(p.get("vmaf") is not None for p in clip["points"]):
            figures.append(
                {
                    "id": f"chart-{slug}-vmaf",
                    "figure": charts.rd_chart(clip, "vmaf", parent=curve),
                    "label": f"VMAF against bitrate on {name}: this codec, x264, x265{against}",
                }
            )
        if any(p.get("psnr_y_frames") for p in clip["points"]):
            figures.append(
                {
                    "id": f"chart-{slug}-frames",
                    "figure": charts.frame_psnr_chart(clip),
                    "label": f"PSNR-Y of each frame of {name} at each quality point",
                }
            )
    preview = clip.get("preview")
    return {
        "slug": slug,
        "clip": clip,
        "figures": figures,
        "vs_parent": vs_parent["clips"].get(name) if vs_parent else None,
        "preview": preview
        and {
            "quality": preview["quality"],
            "recon_url": artifacts.url(preview["recon_key"]),
            "source_url": artifacts.url(preview["source_key"]),
        },
    }


def experiment_detail(experiments: ExperimentStore, artifacts: ArtifactStore, experiment_id: str) -> dict:
    """One experiment: hypothesis, code and diff, per-clip results and charts, previews, lineage, cost, provenance."""
    missing = None
    try:
        view = experiment_view(experiments, artifacts, experiment_id)
    except UsageError:
        raise NotFound(f"no experiment {experiment_id}") from None
    except KeyError as error:  # the record names an artifact the store does not hold
        missing = str(error.args[0])
        stored = require_experiment(experiments, experiment_id)
        view = ExperimentView(stored, _load_result(artifacts, stored), None, None, experiments.events(experiment_id))
    experiment, result = view.experiment, view.result or {}
    parent_records = [experiments.get_experiment(pid) for pid in experiment.parents]
    parents = [{"id": pid, "record": record} for pid, record in zip(experiment.parents, parent_records)]
    parent = parent_records[0] if parent_records else None
    parent_result = (_load_result(artifacts, parent) or {}) if parent else {}
    vs_parent = result.get("vs_parent") or {}
    splits = []
    for split in ("cascade", "train", "validation"):  # the cascade only when the evaluation stopped there
        evaluation = result.get(split)
        if evaluation is None or (split == "cascade" and result.get("train")):
            continue
        parent_clips = {c["sha256"]: c for c in (parent_result.get(split) or {}).get("clips", [])}
        clips = [
            _clip_view(
                split,
                i,
                clip,
                artifacts,
                (parent.id, parent_clips[clip["sha256"]]) if parent and clip["sha256"] in parent_clips else None,
                vs_parent.get(split),
            )
            for i, clip in enumerate(evaluation["clips"])
        ]
        splits.append(
            {
                "name": split,
                "status": evaluation.get("status"),
                "failure": evaluation.get("failure"),
                "clips": clips,
                "vs_parent": vs_parent.get(split),
            }
        )
    children = experiments.children(experiment_id)
    shown: dict = {"id": experiment.benchmark, "current": current_benchmark(experiments), "known": []}
    return {
        "benchmark": shown,
        "experiment": experiment,
        "row": experiment_row(experiment),
        "code": view.code,
        "diff": diff_lines(view.diff),
        "events": view.events[-LOG_TAIL:],
        "splits": splits,
        "parents": parents,
        "children": children[:CHILDREN_SHOWN],
        "children_count": len(children),
        "missing_artifact": missing,
        "vs_parent": vs_parent,
        "parent_measured": bool(parent_result.get("train")),
        "ancestors": _ancestors(experiments, experiment),
        "provenance": _provenance(experiment, result),
    }


def _provenance(experiment: Experiment, result: dict) -> dict:
    """What reproducing the experiment needs: hashes, the lab commit, tool versions, every setting."""
    train = result.get("train") or result.get("cascade") or {}
    clips = [(split, clip) for split in ("train", "validation") for clip in (result.get(split) or {}).get("clips", [])]
    return {
        "code_sha256": experiment.code_sha256,
        "lab_commit": train.get("lab_commit"),
        "lab_dirty": train.get("lab_dirty"),
        "created_at": train.get("created_at"),
        "versions": train.get("versions"),
        "eval_settings": train.get("settings"),
        "isolation": train.get("isolation"),
        "campaign_settings": experiment.settings,
        "clips": [
            {
                "split": split,
                "name": c["name"],
                "sha256": c.get("sha256"),
                "source": c.get("source"),
                "size": f"{c.get('width')}x{c.get('height')}",
                "frames": c.get("frames"),
                "fps": c.get("fps"),
                "notes": c.get("notes") or [],
            }
            for split, c in clips
        ],
    }


def experiment_file(experiments: ExperimentStore, artifacts: ArtifactStore, experiment_id: str, field: str) -> bytes:
    """The bytes of an experiment's artifact named by `field` ("code_key" or "result_key")."""
    experiment = experiments.get_experiment(experiment_id)
    if experiment is None:
        raise NotFound(f"no experiment {experiment_id}")
    key = experiment.code_key if field == "code_key" else experiment.result_key
    if not key:
        raise NotFound(f"experiment {experiment_id} has no {'code' if field == 'code_key' else 'result'} yet")
    try:
        return artifacts.get(key)
    except KeyError:
        raise NotFound(f"the store does not hold {key}") from None


def leaderboard(
    experiments: ExperimentStore, artifacts: ArtifactStore, split: str, clip: str | None, benchmark: str | None = None
) -> dict:
    """The best experiments of one benchmark on a split, and Pareto charts over the best PARETO_RESULTS of them."""
    if split not in SPLITS:
        raise BadRequest(f"unknown split {split!r}; use train or validation")
    shown = benchmark_choice(experiments, benchmark)
    rows = leaderboard_rows(experiments, split, LEADERBOARD_SIZE, shown["id"])
    top = experiments.best_experiments(limit=PARETO_RESULTS, split=split, benchmark=shown["id"])
    results = [(e, _load_result(artifacts, e)) for e in top]
    loaded = [(e, r[split]) for e, r in results if r and r.get(split)]
    clip_names = list(dict.fromkeys(c["name"] for _, evaluation in loaded for c in evaluation["clips"]))
    if clip is not None and clip not in clip_names:
        raise BadRequest(f"no clip {clip!r} among the best experiments' {split} clips")
    chosen = clip or (clip_names[0] if clip_names else None)
    curves: list[tuple[str, list[dict]]] = []
    anchors: dict = {}
    speed: list[dict] = []
    for rank, (experiment, evaluation) in enumerate(loaded, start=1):
        match = next((c for c in evaluation["clips"] if c["name"] == chosen), None)
        if match and match["points"]:
            curves.append((f"#{rank} {experiment.id}", match["points"]))
            anchors = anchors or match.get("anchors", {})
        point = experiment.best_point or mean_preview_point(evaluation)
        score = experiment.score_of(split)
        if point and point["encode_fps"]:
            speed.append({"label": f"#{rank}", "encode_fps": point["encode_fps"], "score": score})
    return {
        "benchmark": shown,
        "rows": rows,
        "split": split,
        "clip": chosen,
        "clips": clip_names,
        "missing_results": [e.id for e, r in results if not (r and r.get(split))],
        "pareto_count": len(loaded),
        "rate_chart": charts.pareto_rate_chart(chosen, curves, anchors) if curves and chosen else None,
        "speed_chart": charts.pareto_speed_chart(speed) if speed else None,
    }


def costs(experiments: ExperimentStore, benchmark: str | None = None) -> dict:
    """Cloud spend by CostCategory (AWS), model and compute cost per experiment and proposer, cost per point gained
    (gains within one benchmark)."""
    shown = benchmark_choice(experiments, benchmark)
    window = experiments.list_experiments(limit=COST_WINDOW).items
    by_proposer: dict[str, dict] = {}
    for e in window:
        cost = e.cost
        key = f"{e.proposer} / {e.model}" if e.model else str(e.proposer)
        entry = by_proposer.setdefault(
            key,
            {
                "name": key,
                "experiments": 0,
                "succeeded": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "llm_usd": 0.0,
                "compute_s": 0.0,
            },
        )
        entry["experiments"] += 1
        entry["succeeded"] += e.status == "succeeded"
        for field in ("input_tokens", "output_tokens", "llm_usd", "compute_s"):
            entry[field] += cost.get(field, 0)
    gains = []
    for e in experiments.best_experiments(limit=GAIN_ROWS, split="train", benchmark=shown["id"]):
        parent = experiments.get_experiment(e.parents[0]) if e.parents else None
        gain = parent.score - e.score if parent and parent.score is not None and e.score is not None else None
        usd = e.cost.get("llm_usd", 0.0)
        gains.append(
            {
                "id": e.id,
                "parent": parent.id if parent else None,
                "score": e.score,
                "gain": gain,
                "llm_usd": usd,
                "compute_s": e.cost.get("compute_s", 0.0),
                "usd_per_point": usd / gain if gain and gain > 0 else None,
            }
        )
    cloud = cloud_costs(experiments)
    spend = spend_view(experiments)
    history = (experiments.get_state(best_history_key(shown["id"])) or {}).get("points", [])
    seed = best_seed(experiments, history)
    campaign_gain = search_progress(history, seed)
    parts = [
        (label, usd)
        for label, usd in (
            ("cloud spend (Cost Explorer)", cloud["total"] if cloud else None),
            ("model spend", spend["llm_usd"] if spend else None),
        )
        if usd is not None
    ]
    total = sum(usd for _, usd in parts) if parts else None
    return {
        "benchmark": shown,
        "cloud": cloud,
        "chart": charts.daily_cost_chart(cloud["daily"]) if cloud and cloud.get("daily") else None,
        "spend": spend,
        "window": len(window),
        "rows": [experiment_row(e) for e in window[:COST_ROWS]],
        "by_proposer": sorted(by_proposer.values(), key=lambda p: -p["llm_usd"]),
        "gains": gains,
        "seed": seed,
        "best": history[-1] if history else None,
        "campaign_gain": campaign_gain,
        "campaign_usd": total,
        "campaign_usd_source": " + ".join(label for label, _ in parts) or None,
        "usd_per_point": total / campaign_gain if total is not None and campaign_gain else None,
    }


def activity(experiments: ExperimentStore) -> dict:
    """What each run and active experiment is doing now, and the newest events."""
    now = datetime.now(timezone.utc)
    active = []
    for status in ACTIVE_STATUSES:
        active += experiments.list_experiments(status=status, limit=ACTIVE_SHOWN).items
    active = sorted(active, key=lambda e: e.updated_at, reverse=True)[:ACTIVE_SHOWN]
    rows = []
    for e in active:
        latest = experiments.events(e.id, limit=1)
        stage = e.stage
        step = STAGES.index(stage) + 1 if stage in STAGES else ACTIVE_STATUSES.index(e.status) + 1
        rows.append(
            {
                "id": e.id,
                "status": e.status,
                "stage": stage,
                "run_id": e.run_id,
                "step": step,
                "steps": len(STAGES),
                "updated_age_s": _age_s(e.updated_at, now),
                "attempts": len(e.attempts),
                "latest": latest[0] if latest else None,
            }
        )
    campaign = experiments.get_state(CAMPAIGN_STATE) or {}
    runs = run_states(experiments, campaign, now)
    return {
        "runs": runs,
        "active": rows,
        "events": experiments.recent_events(RECENT_EVENTS),
        "stale_after_s": STALE_AFTER_S,
        "refresh_s": LIVE_REFRESH_S if any(run["alive"] for run in runs) else None,
    }


def _ancestry(experiments: ExperimentStore, experiment: Experiment, known: dict[str, Experiment | None]) -> list[str]:
    """The ids from `experiment` up its first parents to a root, reading each record once (memo `known`)."""
    chain, current = [experiment.id], experiment
    known[experiment.id] = experiment
    while current.parents and len(chain) < LINEAGE_DEPTH:
        parent_id = current.parents[0]
        if parent_id not in known:
            known[parent_id] = experiments.get_experiment(parent_id)
        parent = known[parent_id]
        if parent is None or parent_id in chain:
            break
        chain.append(parent_id)
        current = parent
    return chain


def _ancestors(experiments: ExperimentStore, experiment: Experiment) -> list[dict]:
    """The experiment's first parent, its first parent, and so on to a root: {"id", "status", "score", "proposer"}."""
    known: dict[str, Experiment | None] = {}
    chain = _ancestry(experiments, experiment, known)[1:]
    return [
        {"id": e.id, "status": e.status, "score": e.score, "proposer": e.proposer}
        for e in (known[i] for i in chain)
        if e is not None
    ]


def _node(record: Experiment, rank: int | None) -> dict:
    return {
        "id": record.id,
        "status": record.status,
        "score": record.score,
        "proposer": record.proposer,
        "model": record.model,
        "rank": rank,
        "hypothesis": record.hypothesis,
        "other_parents": record.parents[1:],
        "children": [],
    }


def lineage(experiments: ExperimentStore, benchmark: str | None = None) -> dict:
    """The archive's family tree over the best LINEAGE_BEST experiments and all their ancestors (first parents).

    Roots are seeds (or experiments whose parent is not in the store); children are ordered best first.
    Reads the best list and each ancestor once by key.
    """
    shown = benchmark_choice(experiments, benchmark)
    best = experiments.best_experiments(limit=LINEAGE_BEST, split="train", benchmark=shown["id"])
    known: dict[str, Experiment | None] = {}
    edges: dict[str, str | None] = {}
    for experiment in best:
        chain = _ancestry(experiments, experiment, known)
        for child, parent in zip(chain, [*chain[1:], None]):
            edges.setdefault(child, parent)
    ranks = {e.id: rank for rank, e in enumerate(best, start=1)}
    nodes = {node_id: _node(record, ranks.get(node_id)) for node_id in edges if (record := known[node_id]) is not None}
    roots: list[dict] = []
    for node_id, parent in edges.items():
        (nodes[parent]["children"] if parent in nodes else roots).append(nodes[node_id])
    for node in nodes.values():
        node["children"].sort(key=_tree_order)
    return {
        "benchmark": shown,
        "roots": sorted(roots, key=_tree_order),
        "shown": len(nodes),
        "best": len(best),
        "limit": LINEAGE_BEST,
    }


def _tree_order(node: dict) -> tuple:
    return (node["score"] is None, node["score"] if node["score"] is not None else 0.0, node["id"])
