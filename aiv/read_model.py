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
        return {"experiment": self.experiment.as_record(), "result": self.result, "code": self.code,
                "diff": self.diff, "events": self.events}


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
        diff = "".join(difflib.unified_diff(parent_code.splitlines(keepends=True), code.splitlines(keepends=True),
                                            fromfile=f"{parent.id}.py", tofile=f"{experiment.id}.py"))
    return ExperimentView(experiment, result, code, diff, experiments.events(experiment_id))


def leaderboard_rows(experiments: ExperimentStore, split: str, limit: int, benchmark: str) -> list[dict]:
    """The leaderboard of one benchmark as rows: rank, id, scores on both splits, the generalisation gap, x265 score."""
    rows = []
    for rank, e in enumerate(experiments.best_experiments(limit=limit, split=split, benchmark=benchmark), start=1):
        train, validation = e.score, e.score_validation
        summary = e.summary_of("train")
        rows.append({"rank": rank, "id": e.id, "proposer": e.proposer, "model": e.model,
                     "score": train, "score_validation": validation,
                     "gap": None if train is None or validation is None else validation - train,
                     "bd_rate_x265_psnr_y": summary.bd_rate_x265_psnr_y if summary else None,
                     "parents": e.parents, "hypothesis": e.hypothesis, "benchmark": benchmark})
    return rows
