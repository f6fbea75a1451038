"""What the admin API does: pause or resume the schedule, start a run, rerun an experiment.

Pausing and resuming rewrite the EventBridge Scheduler schedule (UpdateSchedule replaces the whole
definition, so the current one is read first and sent back with the new State) and store the
"schedule" state document {"enabled", "expression", "next_run_at", "updated_at"} the dashboard
shows. A resumed rate schedule gets StartDate = now + one period, so resuming does not start a run
at once and the next run time is exact; for cron schedules `next_run_at` is None (not computed).
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from aiv.errors import UsageError
from aiv.names import PROPOSERS, SCHEDULE_STATE
from aiv.store.ports import ExperimentStore
from aiv.store.records import now_iso

MAX_CANDIDATES = 100
SET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # a clip set's name, as `aiv clips upload --corpus` keys it
RERUN_PROPOSER = "rerun"
_RATE = re.compile(r"^rate\((\d+) (minutes?|hours?|days?)\)$")
_AT = re.compile(r"^at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)$")
_UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


class NotFound(UsageError):
    """The request names an experiment that does not exist."""


def rate_period(expression: str) -> timedelta | None:
    """The period of a "rate(N unit)" expression, or None for cron and one-time expressions."""
    match = _RATE.match(expression)
    return int(match.group(1)) * _UNITS[match.group(2).rstrip("s")] if match else None


def next_run_at(schedule: dict, now: datetime) -> str | None:
    """When an enabled schedule (GetSchedule's answer) next starts a run, ISO-8601 UTC; None if unknown or paused."""
    if schedule["State"] != "ENABLED":
        return None
    expression = schedule["ScheduleExpression"]
    at = _AT.match(expression)
    if at:
        zone = ZoneInfo(schedule.get("ScheduleExpressionTimezone") or "UTC")
        when = datetime.fromisoformat(at.group(1)).replace(tzinfo=zone).astimezone(timezone.utc)
        return when.isoformat() if when > now else None
    period, start = rate_period(expression), schedule.get("StartDate")
    if period is None or start is None:
        return None
    start = start.astimezone(timezone.utc)
    if start > now:
        return start.isoformat()
    periods = -((start - now) // period)  # ceil((now - start) / period)
    return (start + periods * period).isoformat()


def schedule_document(schedule: dict, now: datetime) -> dict:
    """The "schedule" state document for the dashboard."""
    return {
        "enabled": schedule["State"] == "ENABLED",
        "expression": schedule["ScheduleExpression"],
        "next_run_at": next_run_at(schedule, now),
        "updated_at": now.isoformat(),
    }


def set_schedule_enabled(
    scheduler, experiments: ExperimentStore, name: str, group: str, enabled: bool, now: datetime | None = None
) -> dict:
    """Enable or disable the schedule `group`/`name`; store and return the "schedule" document."""
    now = now or datetime.now(timezone.utc)
    current = scheduler.get_schedule(Name=name, GroupName=group)
    updatable = scheduler.meta.service_model.operation_model("UpdateSchedule").input_shape.members
    request = {key: value for key, value in current.items() if key in updatable}
    request["State"] = "ENABLED" if enabled else "DISABLED"
    if request.get("StartDate") is not None and request["StartDate"] <= now:
        del request["StartDate"]  # a start in the past is refused (more than 5 minutes ago) and no longer matters
    period = rate_period(request["ScheduleExpression"])
    if enabled and period is not None:
        request["StartDate"] = now + period
    scheduler.update_schedule(**request)
    document = schedule_document(scheduler.get_schedule(Name=name, GroupName=group), now)
    experiments.put_state(SCHEDULE_STATE, document)
    return document


def run_input(request: dict) -> dict:
    """The state machine's input for a run from an admin request {"candidates"?, "proposer"?, "corpus"?};
    UsageError if bad. "corpus" names a clip set uploaded with `aiv clips upload --corpus`."""
    unknown = sorted(set(request) - {"candidates", "proposer", "corpus"})
    if unknown:
        raise UsageError(f"unknown fields {unknown}; a run takes 'candidates', 'proposer' and 'corpus'")
    candidates, proposer, corpus = request.get("candidates"), request.get("proposer"), request.get("corpus")
    if candidates is not None and (
        isinstance(candidates, bool) or not isinstance(candidates, int) or not 1 <= candidates <= MAX_CANDIDATES
    ):
        raise UsageError(f"candidates must be a whole number from 1 to {MAX_CANDIDATES}, got {candidates!r}")
    if proposer is not None and proposer not in PROPOSERS:
        raise UsageError(f"proposer must be one of {list(PROPOSERS)}, got {proposer!r}")
    if corpus is not None and not (isinstance(corpus, str) and SET_NAME.fullmatch(corpus)):
        raise UsageError(
            f"corpus must be the name of a clip set uploaded with `aiv clips upload --corpus` "
            f"(letters, digits, '.', '_', '-'), got {corpus!r}"
        )
    return {
        key: value
        for key, value in (("candidates", candidates), ("proposer", proposer), ("corpus", corpus))
        if value is not None
    }


def rerun_input(experiments: ExperimentStore, experiment_id: str) -> dict:
    """The state machine's input that re-evaluates `experiment_id`'s code as a new experiment (parent: it).

    NotFound when there is no such experiment; UsageError when it has no code to rerun.
    """
    experiment = experiments.get_experiment(experiment_id)
    if experiment is None:
        raise NotFound(f"no experiment {experiment_id}")
    if not experiment.code_key:
        raise UsageError(f"experiment {experiment_id} has no code to rerun (its proposal failed)")
    return {"candidates": 1, "proposer": RERUN_PROPOSER, "rerun_of": experiment_id}


def import_request(request: dict) -> tuple[str, str, dict]:
    """(name, source, run fields) of an admin import request {"name", "source", "candidates"?, "proposer"?};
    UsageError naming what is missing or wrong."""
    unknown = sorted(set(request) - {"name", "source", "candidates", "proposer"})
    if unknown:
        raise UsageError(f"unknown fields {unknown}; an import takes 'name', 'source', 'candidates' and 'proposer'")
    missing = [key for key in ("name", "source") if key not in request]
    if missing:
        raise UsageError(f"an import needs {' and '.join(repr(key) for key in missing)}")
    run = run_input({key: request[key] for key in ("candidates", "proposer") if key in request})
    return request["name"], request["source"], run


def execution_name(label: str) -> str:
    """A fresh, unique name for an execution started by an admin action (also its run id)."""
    return f"{label}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{os.urandom(3).hex()}"


def start_execution(sfn, state_machine_arn: str, execution_input: dict, label: str, name: str | None = None) -> dict:
    """Start the state machine with `execution_input` (named `name`, else a fresh name from `label`);
    {"execution_arn", "started_at", "input"}."""
    name = name or execution_name(label)
    response = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input))
    return {
        "execution_arn": response["executionArn"],
        "started_at": response["startDate"].isoformat(),
        "input": execution_input,
    }


def audit(experiments: ExperimentStore, action: str, caller: str | None, detail: dict) -> None:
    """A campaign-level event recording an admin action and who made it."""
    experiments.add_event(
        None,
        "admin",
        f"{action} by {caller or 'an unknown caller'}",
        data={"action": action, "caller": caller, "at": now_iso(), **detail},
    )
