"""The shapes of the events the steps pass along (what a Lambda or Batch job receives and returns).

They are plain dicts on the wire (Step Functions state); these TypedDicts name their fields for
the reader and for mypy. A rejection adds aiv/candidate_loop.rejection's {"stage", "reason", "retry"}.
"""

from __future__ import annotations

from typing import TypedDict


class Feedback(TypedDict):
    stage: str
    reason: str


class _ProposeOptional(TypedDict, total=False):
    experiment_id: str | None  # set when an earlier attempt of this candidate was rejected
    feedback: Feedback | dict  # {} when there is none (the state machine cannot write null)
    rerun_of: str | None  # measure this experiment's code again instead of proposing


class ProposeEvent(_ProposeOptional):
    run_id: str
    proposer: str
    random_seed: int


class _ProposedOptional(TypedDict, total=False):
    stage: str
    reason: str
    retry: bool


class Proposed(_ProposedOptional):
    """propose's output, which validate takes (validate adds "valid", evaluate "status" and "result_key")."""

    run_id: str
    experiment_id: str
    proposer: str
    random_seed: int
    attempt: int
    proposed: bool


class SeedEvent(TypedDict):
    run_id: str
    name: str


class ImportEvent(TypedDict):
    run_id: str
    name: str  # its name in the archive (part of the experiment id)
    source: str  # the module's text
    origin: str  # where it came from, in words (a file name, "the admin API, by <caller>")


class Seeded(TypedDict):
    run_id: str
    experiment_id: str
    created: bool


class _RecordOptional(TypedDict, total=False):
    attempt: int


class RecordEvent(_RecordOptional):
    experiment_id: str
    result_key: str


class _MarkFailedOptional(TypedDict, total=False):
    status: str  # "failed" (the default) or "rejected"


class MarkFailedEvent(_MarkFailedOptional):
    experiment_id: str
    stage: str
    reason: str
