"""The read model both the CLI (aiv/commands/browse.py) and the dashboard (aiv/web/views.py) show:
one experiment with its result, code and diff, and the leaderboard's rows."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass

from aiv.errors import UsageError
from aiv.store.ports import ArtifactStore, ExperimentStore
from aiv.store.records import Experiment


@dataclass(frozen=True)
class ExperimentView:
    """An experiment with its evaluation record (the result JSON), code, events and the diff against its parent."""

    experiment: Experiment
    result: dict | None
    code: str | None
    diff: str | None
    events: list[dict]

    def as_json(self) -> dict:
        """The view as JSON-serialisable data (the experiment as the store holds it)."""
        return {
            "experiment": self.experiment.as_record(),
            "result": self.result,
            "code": self.code,
            "diff": self.diff,
            "events": self.events,
        }


def experiment_view(experiments: ExperimentStore, artifacts: ArtifactStore, experiment_id: str) -> ExperimentView:
    """An experiment with its result, code, events and the unified diff against its first parent."""
    experiment = experiments.get_experiment(experiment_id)
    if experiment is None:
        raise UsageError(f"no experiment {experiment_id}")
    code = artifacts.get(experiment.code_key).decode() if experiment.code_key else None
    result = json.loads(artifacts.get(experiment.result_key)) if experiment.result_key else None
    diff = None
    parent = experiments.get_experiment(experiment.parents[0]) if experiment.parents else None
    if code is not None and parent and parent.code_key:
        parent_code = artifacts.get(parent.code_key).decode()
        diff = "".join(
            difflib.unified_diff(
                parent_code.splitlines(keepends=True),
                code.splitlines(keepends=True),
                fromfile=f"{parent.id}.py",
                tofile=f"{experiment.id}.py",
            )
        )
    return ExperimentView(experiment, result, code, diff, experiments.events(experiment_id))


@dataclass(frozen=True)
class LeaderboardRow:
    """One experiment's place on a benchmark's leaderboard: its rank, who proposed it, its scores (mean BD-rate
    against x264 on PSNR-Y, lower is better) on both splits, their gap and its train score against x265."""

    rank: int
    experiment_id: str
    proposer: str
    model: str | None
    score_train: float | None
    score_validation: float | None
    validation_gap: float | None  # score_validation - score_train; None unless both are measured
    bd_rate_x265_train: float | None  # mean BD-rate against x265 on PSNR-Y over the train clips
    parents: tuple[str, ...]
    hypothesis: str
    benchmark: str

    def as_json(self) -> dict:
        """The row as `aiv leaderboard --json` prints it (the keys of the experiment record it comes from)."""
        return {
            "rank": self.rank,
            "id": self.experiment_id,
            "proposer": self.proposer,
            "model": self.model,
            "score": self.score_train,
            "score_validation": self.score_validation,
            "gap": self.validation_gap,
            "bd_rate_x265_psnr_y": self.bd_rate_x265_train,
            "parents": list(self.parents),
            "hypothesis": self.hypothesis,
            "benchmark": self.benchmark,
        }


def leaderboard_rows(experiments: ExperimentStore, split: str, limit: int, benchmark: str) -> list[LeaderboardRow]:
    """The best `limit` experiments of `benchmark` on `split`, best first, as leaderboard rows."""
    rows = []
    for rank, e in enumerate(experiments.best_experiments(limit=limit, split=split, benchmark=benchmark), start=1):
        train, validation = e.score, e.score_validation
        summary = e.summary_of("train")
        rows.append(
            LeaderboardRow(
                rank=rank,
                experiment_id=e.id,
                proposer=e.proposer,
                model=e.model,
                score_train=train,
                score_validation=validation,
                validation_gap=None if train is None or validation is None else validation - train,
                bd_rate_x265_train=summary.bd_rate_x265_psnr_y if summary else None,
                parents=tuple(e.parents),
                hypothesis=e.hypothesis,
                benchmark=benchmark,
            )
        )
    return rows
