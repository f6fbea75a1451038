"""The import step: a researcher's own codec module enters the archive as a seed, to be evaluated like one.

An imported codec passes the static policy first (the sandbox and the smoke run come with its
evaluation, as for every candidate), then becomes an experiment with proposer "import" and no
parent; once evaluated it is a parent for the search like the built-in seeds. The same module
twice is one experiment. On AWS the seeds Map of an execution evaluates it: its seed name is
IMPORT_PREFIX + the experiment id (see `imported_seed`).
"""

from __future__ import annotations

import hashlib
import re

from aiv.codec.policy import check_policy
from aiv.errors import UsageError
from aiv.names import code_key
from aiv.pipeline.events import ImportEvent, SeedEvent, Seeded
from aiv.pipeline.lab import Lab
from aiv.store.records import new_experiment

IMPORT_PREFIX = "import:"  # a seed name that stands for an imported experiment
IMPORT_PROPOSER = "import"
MAX_SOURCE_BYTES = 1 << 20  # a codec module larger than 1 MiB is refused
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_import(name: str, source: str) -> None:
    """UsageError unless `name` can be part of an experiment id and `source` is a module of sensible size;
    PolicyViolation (aiv.codec.policy) when the module breaks the static policy."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(
            f"an imported codec's name is 1 to 64 letters, digits, '_', '.' or '-' starting with a "
            f"letter or digit, got {name!r}"
        )
    if not isinstance(source, str) or not source.strip():
        raise UsageError("the codec module is empty")
    if len(source.encode()) > MAX_SOURCE_BYTES:
        raise UsageError(f"the codec module has {len(source.encode()):,} bytes; at most {MAX_SOURCE_BYTES:,} are taken")
    check_policy(source)


def import_codec(event: ImportEvent, lab: Lab) -> Seeded:
    """{"run_id", "name", "source", "origin"} -> {"run_id", "experiment_id", "created"}.

    Raises UsageError or PolicyViolation (check_import) before anything is stored. When the store
    already holds the same module in an experiment that did not fail, that experiment is the answer
    ("created" false); otherwise a new experiment "exp-import-<name>-<sha>-<n>" in status proposed.
    """
    name, source = event["name"], event["source"]
    check_import(name, source)
    sha256 = hashlib.sha256(source.encode()).hexdigest()  # as CodecSource.sha256, without loading numpy here
    existing = [e for e in lab.experiments.find_by_code(sha256) if e.benchmark == lab.benchmark_id]
    standing = [e for e in existing if e.status not in ("failed", "rejected")]
    if standing:
        return {"run_id": event["run_id"], "experiment_id": standing[0].id, "created": False}
    lab.artifacts.put(code_key(sha256), source.encode(), "text/x-python")
    experiment_id = f"exp-import-{name}-{sha256[:12]}-{len(existing) + 1}"
    record = new_experiment(
        event["run_id"],
        IMPORT_PROPOSER,
        [],
        f"imported codec '{name}' ({event['origin']})",
        sha256,
        experiment_id=experiment_id,
        benchmark=lab.benchmark_id,
    )
    created = lab.experiments.create_experiment(record)
    if created:
        lab.experiments.add_event(
            record.id, "import", f"codec {name} imported from {event['origin']}; it is evaluated as a seed"
        )
    return {"run_id": event["run_id"], "experiment_id": record.id, "created": created}


def imported_seed(event: SeedEvent, lab: Lab) -> Seeded:
    """The seed step for a name IMPORT_PREFIX + id: {"run_id", "experiment_id", "created"}, "created" true
    when that imported experiment still waits for its evaluation (status proposed)."""
    experiment_id = event["name"][len(IMPORT_PREFIX) :]
    experiment = lab.experiments.get_experiment(experiment_id)
    if experiment is None or experiment.proposer != IMPORT_PROPOSER:
        raise ValueError(f"seed {event['name']}: no imported experiment {experiment_id} in this store")
    return {"run_id": event["run_id"], "experiment_id": experiment_id, "created": experiment.status == "proposed"}
