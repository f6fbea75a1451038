"""The duplicate rules' bookkeeping: which experiment first had a fingerprint.

A candidate is a duplicate when its code is identical to an archived experiment's (validate, by
the code's sha256), identical once comments, docstrings and formatting are ignored (validate, by
the normalised code's sha256), or when it writes identical bitstreams on the cascade stage
(evaluate). Each fingerprint is an artifact naming the first experiment that had it: one read by
key, on S3 as locally. Built-in seeds and reruns are never duplicates (a seed enters once, a rerun
measures archived code again), but their fingerprints are noted. Light: no numpy.
"""

from __future__ import annotations

from aiv.store.ports import ArtifactStore
from aiv.store.records import Experiment

EXEMPT_PROPOSERS = ("builtin", "rerun")


def earlier_owner(artifacts: ArtifactStore, key: str, experiment: Experiment) -> str | None:
    """The id of another, earlier experiment with the fingerprint at `key`; else None, after noting
    `experiment` as its owner if it has none. Always None for an exempt proposer."""
    if artifacts.exists(key):
        owner = artifacts.get(key).decode()
        return owner if owner != experiment.id and experiment.proposer not in EXEMPT_PROPOSERS else None
    artifacts.put(key, experiment.id.encode(), "text/plain")
    return None
