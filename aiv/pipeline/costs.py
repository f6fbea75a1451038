"""Additions to an experiment's stored "cost" record: model tokens and dollars, codec seconds.

The arithmetic itself is aiv/cost_arithmetic.py; these read the record, add, and write it back.
"""

from __future__ import annotations

from aiv.cost_arithmetic import codec_seconds, with_codec_seconds, with_usage
from aiv.search.proposer import Usage
from aiv.store.ports import ExperimentStore, require_experiment


def add_usage(experiments: ExperimentStore, experiment_id: str, usage: Usage) -> None:
    """Add one proposal's tokens and dollars to the experiment's cost."""
    cost = require_experiment(experiments, experiment_id).cost
    experiments.update_experiment(experiment_id, {"cost": with_usage(cost, usage)})


def add_compute(experiments: ExperimentStore, experiment_id: str, *records: dict | None) -> None:
    """Add the codec seconds of evaluation records to the experiment's cost."""
    cost = require_experiment(experiments, experiment_id).cost
    experiments.update_experiment(experiment_id, {"cost": with_codec_seconds(cost, codec_seconds(*records))})
