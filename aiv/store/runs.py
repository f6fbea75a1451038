"""The run record: one `aiv run` (or one state-machine execution's runner) as the store keeps it.

Stored as the state document `run:<id>` (aiv.names.run_state_key); converted to and from RunState
here, at the store boundary, so the runner, the liveness check and the dashboard read typed fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from aiv.cost_arithmetic import round_usd
from aiv.names import run_state_key
from aiv.store.ports import ExperimentStore

RUN_STATUSES = ("running", "finished", "interrupted", "crashed")


@dataclass(frozen=True)
class RunSpend:
    """A run's exact model spend, summed over its finished candidates."""

    llm_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0

    def plus(self, cost: dict) -> RunSpend:
        """This spend with one experiment's "cost" added."""
        return RunSpend(
            round_usd(self.llm_usd + cost["llm_usd"]),
            self.input_tokens + cost["input_tokens"],
            self.output_tokens + cost["output_tokens"],
        )


@dataclass(frozen=True)
class RunState:
    """A run's registration: who runs it, its status and heartbeat, what it was asked, its spend."""

    run_id: str
    pid: int
    host: str
    started_at: str
    heartbeat_at: str
    status: str  # one of RUN_STATUSES
    options: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    spend: RunSpend = RunSpend()
    reason: str | None = None  # why a crashed run ended, in words

    def with_heartbeat(self, status: str, at: str, spend: RunSpend, reason: str | None = None) -> RunState:
        """The same registration with a new status, heartbeat time, spend and (for a crash) reason."""
        return replace(self, status=status, heartbeat_at=at, spend=spend, reason=reason)


def read_run(experiments: ExperimentStore, run_id: str) -> RunState | None:
    """The run's registration, or None when the store has none; ValueError naming a malformed one."""
    document = experiments.get_state(run_state_key(run_id))
    if document is None:
        return None
    try:
        spend = RunSpend(**document.get("spend") or {})
        return RunState(**{**document, "spend": spend})
    except TypeError as error:
        raise ValueError(f"the state document {run_state_key(run_id)} is not a run registration: {error}") from None


def write_run(experiments: ExperimentStore, run: RunState) -> None:
    """Store the run's registration (replacing the previous one)."""
    experiments.put_state(run_state_key(run.run_id), asdict(run))
