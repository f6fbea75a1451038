"""Storage: the ports (ExperimentStore, ArtifactStore) and their adapters.

`ports` defines what the lab needs from a store and `records` the experiment record. Adapters:
SQLite + a local folder (embedded, the default: `open_local_store`) and DynamoDB + S3 (AWS).
Every adapter passes the same contract suite, tests/store_contract.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from aiv.store.local_artifacts import LocalArtifactStore
from aiv.store.ports import ArtifactStore, ExperimentStore
from aiv.store.sqlite import SqliteExperimentStore


def open_local_store(path: str | os.PathLike) -> tuple[ExperimentStore, ArtifactStore]:
    """The embedded stores of a lab folder: `path`/lab.sqlite and `path`/artifacts/ (created when absent)."""
    root = Path(path)
    return SqliteExperimentStore(root / "lab.sqlite"), LocalArtifactStore(root / "artifacts")
