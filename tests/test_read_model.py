"""The read model's leaderboard rows: typed for the CLI and the dashboard, and the exact JSON `aiv leaderboard --json`
prints."""

from __future__ import annotations

import json

import pytest

from aiv.cli import main
from aiv.read_model import LeaderboardRow, leaderboard_rows
from aiv.store import open_local_store
from aiv.store.records import Experiment, new_experiment

JSON_KEYS = [
    "rank",
    "id",
    "proposer",
    "model",
    "score",
    "score_validation",
    "gap",
    "bd_rate_x265_psnr_y",
    "parents",
    "hypothesis",
    "benchmark",
]


def _succeeded(
    parents: list[str], score: float, validation: float | None, x265: float | None, hypothesis: str
) -> Experiment:
    fresh = new_experiment(
        "run-1",
        "claude" if parents else "builtin",
        parents,
        hypothesis,
        "a" * 64,
        model="claude-x" if parents else None,
        benchmark="unknown",
    ).as_record()
    summary = {
        "train": {"bd_rate_x264_psnr_y": score, "bd_rate_x265_psnr_y": x265, "not_comparable": {}},
        "validation": None,
    }
    return Experiment.from_record(
        fresh | {"status": "succeeded", "score": score, "score_validation": validation, "summary": summary}
    )


@pytest.fixture
def store(tmp_path):
    experiments, _ = open_local_store(tmp_path / "lab")
    seed = _succeeded([], -1.5, -1.0, 20.0, "the seed")
    child = _succeeded([seed.id], -4.0, None, None, "a better coder")
    for experiment in (seed, child):
        experiments.create_experiment(experiment)
    return tmp_path / "lab", experiments, seed, child


def test_rows_are_ranked_best_first_with_the_gap_only_where_both_splits_are_measured(store):
    _, experiments, seed, child = store
    best, second = leaderboard_rows(experiments, "train", 10, "unknown")
    assert best == LeaderboardRow(
        rank=1,
        experiment_id=child.id,
        proposer="claude",
        model="claude-x",
        score_train=-4.0,
        score_validation=None,
        validation_gap=None,
        bd_rate_x265_train=None,
        parents=(seed.id,),
        hypothesis="a better coder",
        benchmark="unknown",
    )
    assert (second.rank, second.experiment_id, second.validation_gap, second.bd_rate_x265_train) == (
        2,
        seed.id,
        0.5,
        20.0,
    )
    assert [r.experiment_id for r in leaderboard_rows(experiments, "validation", 10, "unknown")] == [seed.id]
    assert leaderboard_rows(experiments, "train", 10, "bm-other") == []


def test_the_cli_json_keeps_the_record_keys(store, capsys):
    path, experiments, seed, child = store
    assert main(["leaderboard", "--store", str(path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [list(row) for row in printed] == [JSON_KEYS, JSON_KEYS]
    assert printed[0] == {
        "rank": 1,
        "id": child.id,
        "proposer": "claude",
        "model": "claude-x",
        "score": -4.0,
        "score_validation": None,
        "gap": None,
        "bd_rate_x265_psnr_y": None,
        "parents": [seed.id],
        "hypothesis": "a better coder",
        "benchmark": "unknown",
    }
    assert printed == [row.as_json() for row in leaderboard_rows(experiments, "train", 10, "unknown")]


def test_the_cli_table_shows_each_row(store, capsys):
    path, _, seed, child = store
    assert main(["leaderboard", "--store", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    ranked = [line for line in lines if child.id in line or seed.id in line]
    assert ranked[0].split()[:3] == ["1", child.id, "claude"] and "a better coder" in ranked[0]
    assert ranked[1].split()[:3] == ["2", seed.id, "builtin"] and "the seed" in ranked[1]
