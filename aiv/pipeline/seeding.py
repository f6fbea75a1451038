"""The seed step: a built-in codec enters the archive as an experiment, once per store."""

from __future__ import annotations

from aiv.codec.contract import builtin_source
from aiv.names import code_key
from aiv.pipeline.events import SeedEvent, Seeded
from aiv.pipeline.importing import IMPORT_PREFIX, imported_seed
from aiv.pipeline.lab import Lab
from aiv.store.records import new_experiment


def seed(event: SeedEvent, lab: Lab) -> Seeded:
    """{"run_id", "name"} -> {"run_id", "experiment_id", "created"}.

    Seeds are per benchmark: a benchmark new to the store gets its own seeds. A seed is created
    again only when every earlier one on this benchmark ended failed or rejected (an interrupted
    run, a timeout, an infrastructure error), so a transient failure does not leave the archive
    without seeds. The id is derived from the benchmark, the code and the attempt number, so two
    runs seeding one empty store at once create it once.

    A name IMPORT_PREFIX + id is a researcher's codec imported before (aiv/pipeline/importing.py):
    "created" is then whether it still waits for its evaluation.
    """
    if event["name"].startswith(IMPORT_PREFIX):
        return imported_seed(event, lab)
    source = builtin_source(event["name"])
    benchmark = lab.benchmark_id
    existing = [e for e in lab.experiments.find_by_code(source.sha256) if e.benchmark == benchmark]
    standing = [e for e in existing if e.status not in ("failed", "rejected")]
    if standing:
        return {"run_id": event["run_id"], "experiment_id": standing[0].id, "created": False}
    lab.artifacts.put(code_key(source.sha256), source.source.encode(), "text/x-python")
    experiment_id = (
        f"exp-seed-{event['name']}-{source.sha256[:8]}-{benchmark.removeprefix('bm-')[:8]}-{len(existing) + 1}"
    )
    record = new_experiment(
        event["run_id"],
        "builtin",
        [],
        f"built-in reference codec '{event['name']}'",
        source.sha256,
        experiment_id=experiment_id,
        benchmark=benchmark,
    )
    created = lab.experiments.create_experiment(record)
    if created:
        lab.experiments.add_event(record.id, "seed", f"built-in codec {event['name']} entered the archive")
    return {"run_id": event["run_id"], "experiment_id": record.id, "created": created}
