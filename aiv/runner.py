"""The local runner: drives the pipeline's steps in the state machine's order, K candidates at once.

A run registers itself in the store (state `run:<id>`, with a heartbeat), so a later run can tell
an experiment whose run died from one a live run is still working on, and close it. No
experiment is left "running" once its run has ended, whether it finished, was interrupted with
Ctrl-C, or crashed.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from aiv.benchmark import current_benchmark, use_benchmark
from aiv.candidate_loop import REJECT, closing_reason, next_after_rejection
from aiv.codec.contract import builtin_source
from aiv.errors import UsageError
from aiv.cascade import evaluate
from aiv.codec.builtin import BUILTIN_CODECS
from aiv.liveness import HEARTBEAT_S, run_is_alive
from aiv.names import CAMPAIGN_STATE
from aiv.pipeline.events import Seeded
from aiv.pipeline.importing import import_codec
from aiv.pipeline.lab import Lab
from aiv.pipeline.proposing import propose
from aiv.pipeline.recording import mark_failed, record
from aiv.pipeline.seeding import seed
from aiv.pipeline.validation import validate
from aiv.settings import CampaignSettings
from aiv.store.ports import ExperimentStore, require_experiment
from aiv.store.records import ACTIVE_STATUSES, UNKNOWN_BENCHMARK, Experiment, now_iso
from aiv.store.runs import RunSpend, RunState, read_run, write_run

RECENT_RUNS = 20  # run ids kept in the campaign state document ("runs" keeps every one, for the spend)
SEED_POLL_S = 2.0  # how often a run waiting for another run's seed looks again


class SeedsFailed(UsageError):
    """No seed succeeded on the run's benchmark, so there is nothing to propose from (`aiv run` exits 2).

    `reasons` holds each seed's latest failure ("name: stage: reason")."""

    def __init__(self, message: str, reasons: list[str]):
        super().__init__(message)
        self.reasons = reasons

    def timed_out(self) -> bool:
        """Whether a seed failed on the sandbox's wall-clock timeout."""
        return any("timeout:" in reason for reason in self.reasons)


@dataclass(frozen=True)
class RunOptions:
    """What `aiv run` was asked for."""

    iterations: int = 10
    proposer: str = "offline"
    parallel: int = 1
    budget_usd: float | None = None
    random_seed: int = 0  # the base of every candidate's random seed (parent selection, offline mutations)
    seeds: tuple[str, ...] = BUILTIN_CODECS  # built-in codecs evaluated first, once per store
    reruns: tuple[str, ...] = ()  # experiments whose code is measured again, as new experiments
    imports: tuple[tuple[str, str], ...] = ()  # (name, module path) of researchers' codecs, evaluated as seeds


@dataclass
class CandidateOutcome:
    """One candidate's path through the steps, with the seconds each step took."""

    experiment_id: str | None
    status: str
    score: float | None = None
    reason: str | None = None
    seconds: dict = field(default_factory=dict)


def new_run_id() -> str:
    return f"run-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{os.urandom(2).hex()}"


class _Timer:
    def __init__(self, seconds: dict):
        self.seconds = seconds

    def __call__(self, name: str, step: Callable[[Any, Lab], Any], event: Any, lab: Lab) -> dict:
        started = time.perf_counter()
        try:
            return step(event, lab)
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


def run_candidate(
    lab: Lab, run_id: str, proposer: str, random_seed: int, rerun_of: str | None = None
) -> CandidateOutcome:
    """propose -> validate -> evaluate -> record, a rejection going back to propose with its reason
    as aiv/candidate_loop.py rules; any failure -> mark_failed. With `rerun_of`, the candidate is
    that experiment's code, measured again."""
    seconds: dict = {}
    timed = _Timer(seconds)
    event: dict = {"run_id": run_id, "proposer": proposer, "random_seed": random_seed, "rerun_of": rerun_of}
    experiment_id = None
    attempt = 0
    try:
        while True:
            attempt += 1
            out = timed("propose", propose, event, lab)
            experiment_id = out["experiment_id"]
            if out["proposed"]:
                out = timed("validate", validate, out, lab)
                if out["valid"]:
                    out = _evaluate_and_record(lab, out, timed)
                    if not out["rejected"]:
                        return _outcome(lab, experiment_id, seconds)
            if next_after_rejection(out, attempt) == REJECT:
                timed(
                    "record",
                    mark_failed,
                    {
                        "experiment_id": experiment_id,
                        "stage": out["stage"],
                        "reason": closing_reason(out, attempt),
                        "status": "rejected",
                    },
                    lab,
                )
                return _outcome(lab, experiment_id, seconds)
            event = event | {
                "experiment_id": experiment_id,
                "feedback": {"stage": out["stage"], "reason": out["reason"]},
            }
    except Exception as error:  # the state machine's Catch: every failure is recorded with its stage
        if experiment_id is None:
            raise
        return _close_failed(lab, experiment_id, error, seconds)


def stored_settings(experiments: ExperimentStore) -> CampaignSettings | None:
    """The campaign settings of the store's last run (its benchmark), or None for a store without a run."""
    last = (experiments.get_state(CAMPAIGN_STATE) or {}).get("last_run")
    run = read_run(experiments, last) if last else None
    return CampaignSettings.from_record(run.settings) if run and run.settings else None


def evaluate_seed(lab: Lab, run_id: str, name: str, report: Callable[[str], None] = print) -> CandidateOutcome | None:
    """Validate, evaluate and record a built-in codec the first time it enters this store's benchmark;
    None when it is there already. A seed that another live run is evaluating is waited for (saying
    so through `report`); one that failed, or whose run died, is evaluated again."""
    waiting_for = None
    while True:
        out = seed({"run_id": run_id, "name": name}, lab)
        if out["created"]:
            return evaluate_entered(lab, out)
        standing = require_experiment(lab.experiments, out["experiment_id"])
        if standing.status not in ACTIVE_STATUSES or standing.run_id == run_id:
            return None
        if not run_is_alive(read_run(lab.experiments, standing.run_id)):
            close_orphan(lab, standing)
            continue
        if waiting_for != standing.id:
            report(f"waiting for seed {name} ({standing.id}), which run {standing.run_id} is evaluating")
            waiting_for = standing.id
        time.sleep(SEED_POLL_S)


def evaluate_import(lab: Lab, run_id: str, name: str, path: str) -> CandidateOutcome | None:
    """Import the codec module at `path` as `name` and validate, evaluate and record it like a seed;
    None when the store already holds that module."""
    from aiv.codec.contract import load_codec

    codec = load_codec(path)
    return evaluate_entered(
        lab, import_codec({"run_id": run_id, "name": name, "source": codec.source, "origin": codec.file_name}, lab)
    )


def evaluate_entered(lab: Lab, out: Seeded) -> CandidateOutcome | None:
    """Validate, evaluate and record an experiment that has just entered the archive (a seed or an import);
    None when it was already there (`out["created"]` false)."""
    if not out["created"]:
        return None
    seconds: dict = {}
    timed = _Timer(seconds)
    try:
        checked = timed("validate", validate, out, lab)
        if checked["valid"]:
            checked = _evaluate_and_record(lab, checked, timed)
        if not checked.get("valid", True) or checked.get("rejected"):
            timed(
                "record",
                mark_failed,
                {
                    "experiment_id": out["experiment_id"],
                    "stage": checked["stage"],
                    "reason": checked["reason"],
                    "status": "rejected",
                },
                lab,
            )
        return _outcome(lab, out["experiment_id"], seconds)
    except Exception as error:  # recorded, as for any candidate
        return _close_failed(lab, out["experiment_id"], error, seconds)


def _evaluate_and_record(lab: Lab, event: dict, timed: _Timer) -> dict:
    return timed("record", record, timed("evaluate", evaluate, event, lab), lab)


def _outcome(lab: Lab, experiment_id: str, seconds: dict) -> CandidateOutcome:
    experiment = require_experiment(lab.experiments, experiment_id)
    reason = (experiment.failure or {}).get("reason")
    return CandidateOutcome(experiment_id, experiment.status, experiment.score, reason, seconds)


def _close_failed(lab: Lab, experiment_id: str, error: Exception, seconds: dict) -> CandidateOutcome:
    stage = require_experiment(lab.experiments, experiment_id).stage
    reason = f"{type(error).__name__}: {error}"
    mark_failed({"experiment_id": experiment_id, "stage": stage, "reason": reason}, lab)
    return CandidateOutcome(experiment_id, "failed", reason=reason, seconds=seconds)


def active_experiments(experiments: ExperimentStore) -> Iterator[Experiment]:
    """Every experiment in an active status, page by page (an indexed query per status)."""
    for status in ACTIVE_STATUSES:
        cursor = None
        while True:
            page = experiments.list_experiments(status=status, limit=100, cursor=cursor)
            yield from page.items
            cursor = page.cursor
            if cursor is None:
                break


def close_orphans(lab: Lab, current_run: str) -> list[str]:
    """Mark failed every active experiment whose run is no longer alive; return their ids."""
    closed = []
    for experiment in list(active_experiments(lab.experiments)):
        owner = experiment.run_id
        if owner != current_run and not run_is_alive(read_run(lab.experiments, owner)):
            close_orphan(lab, experiment)
            closed.append(experiment.id)
    return closed


def close_orphan(lab: Lab, experiment: Experiment) -> None:
    """Mark failed an active experiment whose run is no longer alive."""
    mark_failed(
        {
            "experiment_id": experiment.id,
            "stage": experiment.stage,
            "reason": f"interrupted: run {experiment.run_id} ended before this experiment finished",
        },
        lab,
    )


def seed_failures(lab: Lab, names: tuple[str, ...]) -> list[str]:
    """Each seed's latest failure on the lab's benchmark, as "name: stage: reason"."""
    lines = []
    for name in names:
        tries = [
            e for e in lab.experiments.find_by_code(builtin_source(name).sha256) if e.benchmark == lab.benchmark_id
        ]
        failure = (tries[-1].failure or {}) if tries else {}
        lines.append(
            f"{name}: {failure.get('stage', '?')}: {failure.get('reason', 'never evaluated')}"
            if tries
            else f"{name}: never evaluated"
        )
    return lines


class CampaignRun:
    """One `aiv run`: registration, heartbeat, seeds, then candidates on K worker threads."""

    def __init__(self, lab: Lab, options: RunOptions, report: Callable[[str], None] = print):
        self.lab, self.options, self.report = lab, options, report
        self.run_id = new_run_id()
        self.outcomes: list[CandidateOutcome] = []
        self._spend = RunSpend()
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def _register(self, status: str, reason: str | None = None) -> None:
        """Write this run's registration (aiv/store/runs.py) with `status`, a fresh heartbeat, the spend so far
        and, for a crash, its reason."""
        now = now_iso()
        run = read_run(self.lab.experiments, self.run_id) or RunState(
            run_id=self.run_id,
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=now,
            heartbeat_at=now,
            status=status,
            options=asdict(self.options),
            settings=self.lab.settings.as_record(),
        )
        with self._lock:
            spend = self._spend
        write_run(self.lab.experiments, run.with_heartbeat(status, now, spend, reason))

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self._register("running")

    def execute(self) -> list[CandidateOutcome]:
        """Run the campaign to the end, or until Ctrl-C; the store is consistent either way."""
        self._register("running")
        campaign = self.lab.experiments.get_state(CAMPAIGN_STATE) or {"recent_runs": []}
        recent = [self.run_id] + [r for r in campaign.get("recent_runs", []) if r != self.run_id]
        every = [self.run_id] + [r for r in campaign.get("runs", campaign.get("recent_runs", [])) if r != self.run_id]
        self.lab.experiments.put_state(
            CAMPAIGN_STATE,
            campaign
            | {"last_run": self.run_id, "last_run_at": now_iso(), "recent_runs": recent[:RECENT_RUNS], "runs": every},
        )
        self.lab.experiments.add_event(
            None,
            "run",
            f"{self.run_id} started: {self.options.iterations} iterations, "
            f"proposer {self.options.proposer}, {self.options.parallel} at once",
        )
        threading.Thread(target=self._heartbeat, daemon=True).start()
        closed = close_orphans(self.lab, self.run_id)
        if closed:
            self.report(f"closed {len(closed)} experiment(s) left running by an earlier run: {', '.join(closed)}")
        try:
            self._enter_benchmark()
            self._run_pool(list(self.options.seeds), self._seed_task)
            self._run_pool(list(self.options.imports), self._import_task)
            if self.options.iterations and not self.lab.experiments.best_experiments(
                limit=1, benchmark=self.lab.benchmark_id
            ):
                reasons = seed_failures(self.lab, self.options.seeds)
                raise SeedsFailed(
                    f"no seed succeeded on benchmark {self.lab.benchmark_id}, so there is nothing to "
                    f"improve ({'; '.join(reasons) or 'no seeds were asked for'}); failed seeds are "
                    f"evaluated again by the next run",
                    reasons,
                )
            self._run_pool(list(self.options.reruns), self._rerun_task)
            self._run_pool(list(range(self.options.iterations)), self._candidate_task)
        except SeedsFailed:
            self._stop.set()
            self._register("finished")
            self.lab.experiments.add_event(
                None, "run", f"{self.run_id} ended: no seed succeeded on benchmark {self.lab.benchmark_id}"
            )
            raise
        except KeyboardInterrupt:
            self._stop.set()
            closed = self._close_own("interrupted by the user (Ctrl-C)")
            self._register("interrupted")
            self.lab.experiments.add_event(
                None, "run", f"{self.run_id} interrupted; closed {len(closed)} experiment(s)"
            )
            raise
        except BaseException as error:
            self._stop.set()
            self._close_own("the run crashed before this experiment finished")
            self._register("crashed", f"{type(error).__name__}: {error}")
            raise
        self._stop.set()
        self._register("finished")
        self.lab.experiments.add_event(None, "run", f"{self.run_id} finished: {len(self.outcomes)} candidate(s)")
        return self.outcomes

    def _enter_benchmark(self) -> None:
        """Make this run's benchmark the store's current one, saying so when it is new to the store."""
        before = current_benchmark(self.lab.experiments) or UNKNOWN_BENCHMARK
        had_experiments = any(self.lab.experiments.count_by_status().values())
        if use_benchmark(self.lab.experiments, self.lab.benchmark) and had_experiments:
            self.report(
                f"benchmark {self.lab.benchmark_id} (these clips, frames, qualities and anchors) is new to "
                f"this store, whose latest was {before}: the seeds are evaluated on it first, and its scores "
                f"are ranked apart (aiv leaderboard --benchmark ID)"
            )

    def _seed_task(self, name: str) -> bool:
        outcome = evaluate_seed(self.lab, self.run_id, name, self.report)
        if outcome:
            self._finish(f"seed {name}", outcome)
        return True

    def _import_task(self, entry: tuple[str, str]) -> bool:
        outcome = evaluate_import(self.lab, self.run_id, *entry)
        if outcome:
            self._finish(f"import {entry[0]}", outcome)
        return True

    def _rerun_task(self, experiment_id: str) -> bool:
        self._finish(
            f"rerun of {experiment_id}", run_candidate(self.lab, self.run_id, "rerun", 0, rerun_of=experiment_id)
        )
        return True

    def _candidate_task(self, index: int) -> bool:
        if self._over_budget():
            self.report(f"budget of ${self.options.budget_usd:.2f} reached; no new candidates")
            return False
        outcome = run_candidate(
            self.lab, self.run_id, self.options.proposer, self.options.random_seed * 1_000_003 + index
        )
        self._finish(f"{index + 1}/{self.options.iterations}", outcome)
        return True

    def _run_pool(self, items: list, task: Callable[[Any], bool]) -> None:
        """Run `task` on every item with K daemon worker threads; a task returning False stops its worker.

        Daemon threads let Ctrl-C end the process at once; an error in a task stops the pool and is
        raised here, in the main thread.
        """
        tasks: queue.Queue = queue.Queue()
        for item in items:
            tasks.put(item)
        errors: list[BaseException] = []

        def worker() -> None:
            while not self._stop.is_set():
                try:
                    item = tasks.get_nowait()
                except queue.Empty:
                    return
                try:
                    if not task(item):
                        return
                except BaseException as error:  # surfaced in the main thread below
                    errors.append(error)
                    self._stop.set()
                    return

        workers = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, self.options.parallel))]
        for thread in workers:
            thread.start()
        for thread in workers:
            while thread.is_alive():
                thread.join(timeout=0.5)
        if errors:
            raise errors[0]

    def _over_budget(self) -> bool:
        with self._lock:
            return self.options.budget_usd is not None and self._spend.llm_usd >= self.options.budget_usd

    def _finish(self, label: str, outcome: CandidateOutcome) -> None:
        experiment = self.lab.experiments.get_experiment(outcome.experiment_id) if outcome.experiment_id else None
        with self._lock:
            self.outcomes.append(outcome)
            if experiment:
                self._spend = self._spend.plus(experiment.cost)
        score = f"{outcome.score:+.2f}%" if outcome.score is not None else "-"
        took = sum(outcome.seconds.values())
        detail = f" ({outcome.reason[:160]})" if outcome.reason and outcome.status != "succeeded" else ""
        self.report(f"[{label}] {outcome.experiment_id} {outcome.status} score {score} in {took:.1f}s{detail}")

    def _close_own(self, reason: str) -> list[str]:
        closed = []
        for experiment in list(active_experiments(self.lab.experiments)):
            if experiment.run_id == self.run_id:
                mark_failed({"experiment_id": experiment.id, "stage": experiment.stage, "reason": reason}, self.lab)
                closed.append(experiment.id)
        return closed
