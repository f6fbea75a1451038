"""The storage ports: what the lab needs from a store, independent of SQLite or DynamoDB.

Experiments go in and come out as the typed `Experiment` (aiv/store/records.py: its fields, and
the conversion to and from the stored JSON, which each adapter does); events and campaign-state
documents are plain JSON-serialisable dicts (a run's registration is typed over them,
aiv/store/runs.py). Every adapter passes the same contract suite (tests/store_contract.py). Access
is by key or by an indexed query; nothing here scans a whole table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from aiv.store.records import Experiment


class ConflictError(Exception):
    """A conditional write lost: the record was not in the state the writer expected."""


@dataclass(frozen=True)
class Page:
    """One page of a listing; `cursor` is an opaque token for the next page, None at the end."""

    items: list[Experiment]
    cursor: str | None


class ExperimentStore(Protocol):
    """Experiments, their events, and small campaign state."""

    def schema_version(self) -> int:
        """The version of the stored schema this adapter reads and writes."""

    def create_experiment(self, experiment: Experiment) -> bool:
        """Store a new experiment (its `id` is the key); False, and no change, if the id exists already."""

    def update_experiment(
        self, experiment_id: str, fields: dict[str, Any], expect_status: tuple[str, ...] | None = None
    ) -> Experiment:
        """Set `fields` ({Experiment field name: typed value}) on the experiment and return it, atomically.

        With `expect_status`, the update happens only if the current status is one of them, else
        ConflictError. KeyError when the experiment does not exist, ValueError for a field an Experiment
        does not have. `updated_at` is set here.
        """

    def get_experiment(self, experiment_id: str) -> Experiment | None:
        """One experiment by id, or None."""

    def list_experiments(self, status: str | None = None, limit: int = 50, cursor: str | None = None) -> Page:
        """Experiments newest first (by `created_at`, then id), optionally only one status."""

    def best_experiments(self, limit: int = 10, split: str = "train", *, benchmark: str) -> list[Experiment]:
        """Succeeded experiments of `benchmark` (aiv/benchmark.py) with a score on `split` ("train" or
        "validation"), lowest score first. Scores of other benchmarks are never among them."""

    def ranked_experiments(
        self, split: str = "train", limit: int = 50, cursor: str | None = None, *, benchmark: str
    ) -> Page:
        """Succeeded experiments of `benchmark` with a score on `split`, lowest score first (ties: id), paged by
        `cursor`. The paginated form of best_experiments: the same order, a page at a time.
        """

    def children(self, experiment_id: str) -> list[Experiment]:
        """Experiments that name `experiment_id` among their parents, oldest first."""

    def find_by_code(self, code_sha256: str) -> list[Experiment]:
        """Experiments whose code has this sha256 (duplicate detection)."""

    def count_by_status(self) -> dict[str, int]:
        """How many experiments are in each status."""

    def add_event(self, experiment_id: str | None, kind: str, message: str, data: dict | None = None) -> dict:
        """Append an event (None: a campaign-level event); returns it with its `at` time and `seq`."""

    def events(self, experiment_id: str, limit: int = 200) -> list[dict]:
        """One experiment's newest `limit` events, in order oldest first."""

    def recent_events(self, limit: int = 50) -> list[dict]:
        """The newest events of every experiment and the campaign, newest first."""

    def get_state(self, key: str) -> dict | None:
        """A small campaign-state document (its keys are in aiv/names.py: "schedule", "costs", "run:<id>"...), or None."""

    def put_state(self, key: str, value: dict) -> None:
        """Replace a campaign-state document."""

    def swap_state(self, key: str, expected: dict | None, value: dict) -> bool:
        """Replace a campaign-state document only if it still is `expected` (None: absent); False, and no change,
        when another writer changed it first. For read-modify-write: read, change, swap, read again on False."""


def require_experiment(experiments: ExperimentStore, experiment_id: str) -> Experiment:
    """The experiment `experiment_id`; KeyError naming it when the store has none."""
    experiment = experiments.get_experiment(experiment_id)
    if experiment is None:
        raise KeyError(f"no experiment {experiment_id} in this store")
    return experiment


def check_artifact_key(key: str) -> str:
    """Return `key` if it is a valid artifact key, else ValueError saying why.

    A key is a relative POSIX path ('code/<sha>.py', 'results/<id>.json'): not empty, not
    absolute, no backslash or NUL, no empty, '.' or '..' segment. Every ArtifactStore checks it.
    """
    if not isinstance(key, str) or not key:
        raise ValueError(f"artifact key must be a non-empty string, got {key!r}")
    if "\\" in key or "\0" in key:
        raise ValueError(f"artifact key {key!r} contains a backslash or NUL")
    if key.startswith("/"):
        raise ValueError(f"artifact key {key!r} is absolute; keys are relative paths")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"artifact key {key!r} has an empty, '.' or '..' segment")
    return key


class ArtifactStore(Protocol):
    """Immutable blobs by key: codec sources, result JSON, bitstreams, previews."""

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Store `data` under `key` (overwrites; writes are atomic: readers see old or new, never half)."""

    def get(self, key: str) -> bytes:
        """The bytes under `key`; KeyError when absent."""

    def exists(self, key: str) -> bool:
        """Whether `key` holds data."""

    def url(self, key: str, expires_s: int = 3600) -> str:
        """A URL a browser can fetch the artifact from (a local path route or a presigned S3 URL)."""
