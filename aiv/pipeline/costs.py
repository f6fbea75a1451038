"""The cost arithmetic on an experiment's "cost" record: model tokens and dollars, codec seconds."""

from __future__ import annotations

from aiv.search.proposer import Usage
from aiv.store.ports import ExperimentStore, require_experiment


def add_usage(experiments: ExperimentStore, experiment_id: str, usage: Usage) -> None:
    """Add one proposal's tokens and dollars to the experiment's cost."""
    cost = dict(require_experiment(experiments, experiment_id).cost)
    cost["input_tokens"] += usage.input_tokens
    cost["cache_read_tokens"] = cost.get("cache_read_tokens", 0) + usage.cache_read_tokens
    cost["cache_write_tokens"] = cost.get("cache_write_tokens", 0) + usage.cache_write_tokens
    cost["output_tokens"] += usage.output_tokens
    cost["llm_usd"] = round(cost["llm_usd"] + (usage.usd or 0.0), 6)
    experiments.update_experiment(experiment_id, {"cost": cost})


def codec_seconds(*records: dict | None) -> float:
    """The codec's own encode and decode seconds over every point of the given evaluation records."""
    return sum(p["encode_s"] + p["decode_s"] for r in records if r for c in r["clips"] for p in c["points"])


def add_compute(experiments: ExperimentStore, experiment_id: str, *records: dict | None) -> None:
    """Add the codec seconds of evaluation records to the experiment's cost."""
    cost = dict(require_experiment(experiments, experiment_id).cost)
    cost["compute_s"] = round(cost["compute_s"] + codec_seconds(*records), 3)
    experiments.update_experiment(experiment_id, {"cost": cost})
