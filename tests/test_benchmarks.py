"""Benchmark identity, and a campaign that mixes two benchmarks on one store: they never mix."""

from __future__ import annotations

import pytest

from aiv.benchmark import choose_benchmark, define_benchmark, known_benchmarks
from aiv.cli import main
from aiv.names import best_history_key
from aiv.pipeline.lab import Lab
from aiv.read_model import leaderboard_rows
from aiv.runner import CampaignRun, RunOptions, run_candidate
from aiv.settings import CampaignSettings
from aiv.store import open_local_store
from aiv.web.views import BadRequest, leaderboard, overview
from test_pipeline import ScriptedProposer, anchor_cache, archive_program, tiny_loader  # noqa: F401 (a fixture)

SETTINGS = CampaignSettings(
    qualities=(0.3, 0.7),
    frames=3,
    train_clips=("moving_object",),
    validation_clips=("pan_zoom",),
    anchors=("x264",),
    timeout_s=60,
).as_record()


def test_the_id_follows_clips_frames_qualities_and_every_anchor_field_only():
    base = define_benchmark(SETTINGS, ["a" * 64], ["b" * 64])
    assert base.id.startswith("bm-") and base == define_benchmark(dict(SETTINGS), ["a" * 64], ["b" * 64])
    changed = [
        define_benchmark(SETTINGS, ["c" * 64], ["b" * 64]),
        define_benchmark(SETTINGS, ["a" * 64], []),
        define_benchmark(SETTINGS | {"frames": 4}, ["a" * 64], ["b" * 64]),
        define_benchmark(SETTINGS | {"qualities": (0.3, 0.8)}, ["a" * 64], ["b" * 64]),
        define_benchmark(SETTINGS | {"anchors": ("x264", "x265")}, ["a" * 64], ["b" * 64]),
        define_benchmark(SETTINGS | {"anchor_crfs": (20, 30)}, ["a" * 64], ["b" * 64]),
    ]  # a future field
    assert len({base.id, *(b.id for b in changed)}) == 1 + len(changed)
    for unrelated in ({"timeout_s": 1.0}, {"vmaf": True}, {"memory_mb": 1}):
        assert define_benchmark(SETTINGS | unrelated, ["a" * 64], ["b" * 64]).id == base.id


def lab_on(store, preset: str, proposer: ScriptedProposer, anchor_cache) -> Lab:
    experiments, artifacts = open_local_store(store)
    settings = CampaignSettings(
        qualities=(0.3, 0.7),
        frames=3,
        train_clips=("moving_object",),
        validation_clips=("pan_zoom",),
        anchors=("x264",),
        timeout_s=60,
        anchor_preset=preset,
    )
    return Lab(experiments, artifacts, settings, lambda name: proposer, cache_dir=anchor_cache, clip_loader=tiny_loader)


def test_a_campaign_on_two_benchmarks_never_mixes_them(tmp_path, anchor_cache, tiny_codec_source, capsys):
    store = tmp_path / "lab"
    variants = [tiny_codec_source.replace("round(32 *", f"round({n} *") for n in (24, 28)]
    proposer_a, proposer_b = ScriptedProposer([variants[0]]), ScriptedProposer([variants[1]])
    lab_a, lab_b = lab_on(store, "medium", proposer_a, anchor_cache), lab_on(store, "fast", proposer_b, anchor_cache)
    assert lab_a.benchmark_id != lab_b.benchmark_id
    archive_program(lab_a, tiny_codec_source)  # the same seed program, measured on each benchmark
    CampaignRun(lab_a, RunOptions(iterations=1, proposer="scripted", seeds=()), report=lambda _: None).execute()
    lines: list[str] = []
    archive_program(lab_b, tiny_codec_source)
    CampaignRun(lab_b, RunOptions(iterations=1, proposer="scripted", seeds=()), report=lines.append).execute()

    store_view = lab_b.experiments
    boards = {
        lab.benchmark_id: store_view.best_experiments(limit=50, benchmark=lab.benchmark_id) for lab in (lab_a, lab_b)
    }
    for benchmark, best in boards.items():
        assert len(best) == 2 and {e.benchmark for e in best} == {benchmark}  # its seed and its candidate
        assert {e.proposer for e in best} == {"builtin", "scripted"}
        for e in best:
            if e.parents:  # the parent was chosen from the same benchmark
                assert store_view.get_experiment(e.parents[0]).benchmark == benchmark
        history = store_view.get_state(best_history_key(benchmark))["points"]
        assert {p["experiment_id"] for p in history} <= {e.id for e in best}
        rows = leaderboard_rows(store_view, "train", 50, benchmark)
        assert [r.experiment_id for r in rows] == [e.id for e in best] and {r.benchmark for r in rows} == {benchmark}
    # the intra seed was evaluated once on each benchmark, and no proposer saw the other benchmark's programs
    assert len({e.id for best in boards.values() for e in best}) == 4
    for proposer, lab in ((proposer_a, lab_a), (proposer_b, lab_b)):
        shown = {proposer.contexts[0].parent.experiment_id, *(o.experiment_id for o in proposer.contexts[0].others)}
        assert shown <= {e.id for e in boards[lab.benchmark_id]}

    assert known_benchmarks(store_view)["current"] == lab_b.benchmark_id
    assert choose_benchmark(store_view, None) == lab_b.benchmark_id
    with pytest.raises(ValueError, match="no benchmark 'bm-nope'"):
        choose_benchmark(store_view, "bm-nope")
    page = leaderboard(store_view, lab_b.artifacts, "train", None, lab_a.benchmark_id)
    assert page["benchmark"]["id"] == lab_a.benchmark_id and {r.benchmark for r in page["rows"]} == {lab_a.benchmark_id}
    assert overview(store_view)["benchmark"]["id"] == lab_b.benchmark_id
    with pytest.raises(BadRequest):
        overview(store_view, "bm-nope")

    assert main(["leaderboard", "--store", str(store), "--benchmark", lab_a.benchmark_id]) == 0
    out = capsys.readouterr().out
    assert f"benchmark {lab_a.benchmark_id} (the store's others: {lab_b.benchmark_id}" in out
    assert all(e.id in out for e in boards[lab_a.benchmark_id])
    assert not any(e.id in out for e in boards[lab_b.benchmark_id])
    assert main(["leaderboard", "--store", str(store), "--benchmark", "bm-nope"]) == 2
    assert "no benchmark 'bm-nope'" in capsys.readouterr().err


def test_records_older_than_benchmarks_are_the_unknown_benchmark_and_never_parents_of_a_new_one(tmp_path):
    import random

    from aiv.search.archive import EmptyArchive, select_parent
    from aiv.store.records import new_experiment

    experiments, _ = open_local_store(tmp_path / "lab")
    from aiv.store.records import Experiment

    record = new_experiment("run-old", "offline", [], "before benchmarks", "a" * 64, benchmark="unknown").as_record()
    del record["benchmark"]
    old = Experiment.from_record(record | {"status": "succeeded", "score": -10.0})
    experiments.create_experiment(old)
    assert choose_benchmark(experiments, None) == "unknown"
    assert [r.experiment_id for r in leaderboard_rows(experiments, "train", 10, "unknown")] == [old.id]
    assert select_parent(experiments, random.Random(0), "unknown").parent.id == old.id
    with pytest.raises(EmptyArchive, match="bm-new"):
        select_parent(experiments, random.Random(0), "bm-new")


def test_a_program_measured_on_one_benchmark_is_no_duplicate_on_another(tmp_path, anchor_cache, tiny_codec_source):
    """Duplicate rules (normalised code, cascade bitstreams) look only within one benchmark."""
    store = tmp_path / "lab"
    variant = tiny_codec_source.replace("round(32 *", "round(24 *")
    reworded = "# the same change, proposed again on another benchmark\n" + variant
    lab_a = lab_on(store, "medium", ScriptedProposer([variant]), anchor_cache)
    lab_b = lab_on(store, "fast", ScriptedProposer([reworded]), anchor_cache)
    for lab in (lab_a, lab_b):
        archive_program(lab, tiny_codec_source)
        outcome = run_candidate(lab, "run-1", "scripted", 1)
        experiment = lab.experiments.get_experiment(outcome.experiment_id)
        assert outcome.status == "succeeded", experiment.attempts
        assert experiment.attempts == [] and experiment.benchmark == lab.benchmark_id


class RacingStore:
    """A SQLite store on which another run writes `rival` just before this caller's first swap lands."""

    def __init__(self, experiments, key: str, rival: dict) -> None:
        self.experiments, self.key, self.rival = experiments, key, rival

    def get_state(self, key: str) -> dict | None:
        return self.experiments.get_state(key)

    def swap_state(self, key: str, expected: dict | None, value: dict) -> bool:
        if self.rival is not None and key == self.key:
            self.experiments.put_state(key, self.rival)
            self.rival = None
        return self.experiments.swap_state(key, expected, value)


def test_two_runs_starting_on_two_benchmarks_at_once_both_stay_known(tmp_path):
    from aiv.benchmark import BENCHMARKS_STATE, use_benchmark

    experiments, _ = open_local_store(tmp_path / "lab")
    first, second = define_benchmark(SETTINGS, ["a" * 64], []), define_benchmark(SETTINGS, ["c" * 64], [])
    rival = {
        "current": first.id,
        "known": {first.id: {"definition": first.definition, "first_at": "t", "last_at": "t"}},
    }
    assert use_benchmark(RacingStore(experiments, BENCHMARKS_STATE, rival), second)
    document = known_benchmarks(experiments)
    assert document["current"] == second.id and set(document["known"]) == {first.id, second.id}


def test_two_runs_creating_a_stores_secret_at_once_use_the_first_write(tmp_path):
    from aiv.video.corpus_secret import STATE_KEY, store_secret

    experiments, _ = open_local_store(tmp_path / "lab")
    rival = {"hex": "ab" * 32}
    assert store_secret(RacingStore(experiments, STATE_KEY, rival)) == bytes.fromhex("ab" * 32)
    assert experiments.get_state(STATE_KEY) == rival
