"""A benchmark: what makes two scores comparable, and the store's list of the benchmarks it has seen.

A benchmark is the clips' hashes (train and validation, in order), the frames of each clip, the
quality points and every anchor setting of the campaign (each CampaignSettings field whose name
starts with "anchor"). Its id is a hash of that definition. Scores are ranked, selected from and
compared only within one benchmark. Experiments stored before benchmarks existed carry UNKNOWN.

Import-free apart from the store port: Lambdas read benchmark ids without numpy or PyAV.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from aiv.names import BENCHMARKS_STATE
from aiv.store.ports import ExperimentStore
from aiv.store.records import UNKNOWN_BENCHMARK as UNKNOWN
from aiv.store.records import now_iso

ID_PREFIX = "bm-"
PENDING = "pending"  # an experiment created where the benchmark is not known yet: its evaluation records it


@dataclass(frozen=True)
class Benchmark:
    """A benchmark's id and the definition it hashes."""

    id: str
    definition: dict


def define_benchmark(settings: dict, train_hashes: list[str], validation_hashes: list[str]) -> Benchmark:
    """The benchmark of campaign `settings` (CampaignSettings.as_record()) on clips with these sha256s."""
    definition = {
        "train": list(train_hashes),
        "validation": list(validation_hashes),
        "frames": settings["frames"],
        "qualities": list(settings["qualities"]),
        "anchors": {name: value for name, value in sorted(settings.items()) if name.startswith("anchor")},
    }
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    return Benchmark(ID_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:12], definition)


def known_benchmarks(experiments: ExperimentStore) -> dict:
    """The store's benchmarks document: {"current": id or None, "known": {id: {"definition", "first_at", "last_at"}}}."""
    return experiments.get_state(BENCHMARKS_STATE) or {"current": None, "known": {}}


def current_benchmark(experiments: ExperimentStore) -> str | None:
    """The benchmark the store used most recently, or None when it has none recorded."""
    return known_benchmarks(experiments)["current"]


def use_benchmark(experiments: ExperimentStore, benchmark: Benchmark) -> bool:
    """Make `benchmark` the store's current one; True when the store had not seen it before.

    A compare-and-swap on the benchmarks document, so two runs starting at once on different benchmarks
    both end up in "known" (the one that swapped last is "current")."""
    while True:
        stored = experiments.get_state(BENCHMARKS_STATE)
        known = dict((stored or {}).get("known", {}))
        now = now_iso()
        new = benchmark.id not in known
        entry = known.get(benchmark.id) or {"definition": benchmark.definition, "first_at": now}
        known[benchmark.id] = entry | {"last_at": now}
        if experiments.swap_state(BENCHMARKS_STATE, stored, {"current": benchmark.id, "known": known}):
            return new


def choose_benchmark(experiments: ExperimentStore, requested: str | None) -> str:
    """The benchmark a view shows: `requested` when given (ValueError when the store has no such benchmark),
    else the store's current one (UNKNOWN on a store that has recorded none: its records predate benchmarks)."""
    if requested is None:
        return current_benchmark(experiments) or UNKNOWN
    if requested != UNKNOWN and requested not in known_benchmarks(experiments)["known"]:
        known = ", ".join(known_benchmarks(experiments)["known"]) or "none"
        raise ValueError(f"this store has no benchmark {requested!r}; its benchmarks: {known}")
    return requested
