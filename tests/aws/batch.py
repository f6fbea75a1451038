"""The Batch side of the state machine's .sync jobs in tests: attempts as the job definition's RetryStrategy says.

A job runs an attempt at a time (`attempt(parameters, number)` -> AttemptOutcome, supplied by the test); a failed
attempt is matched against EvaluateOnExit in order, as AWS Batch does: the first rule whose OnStatusReason,
OnReason and OnExitCode globs all match decides (RETRY or EXIT); with no rule matching, the job is retried; at
most RetryStrategy.Attempts attempts in all. The job's description (what DescribeJobs gives Step Functions) is the
.sync task's result, or the Cause of its States.TaskFailed.
"""

from __future__ import annotations

import fnmatch
import json
import uuid
from dataclasses import dataclass
from collections.abc import Callable

from asl import StatesError

ESSENTIAL_EXIT = "Essential container in task exited"


@dataclass(frozen=True)
class AttemptOutcome:
    """How one attempt ended: the container's exit code (None when it never exited) and the reasons."""

    exit_code: int | None
    status_reason: str = ESSENTIAL_EXIT
    reason: str | None = None


def _glob(pattern: str | None, value: str | None) -> bool:
    if pattern is None:
        return True
    return pattern == "*" or fnmatch.fnmatchcase(value or "", pattern)


def decision(rules: list[dict], outcome: AttemptOutcome) -> str | None:
    """RETRY or EXIT from the first EvaluateOnExit rule that matches a failed attempt; None when none does."""
    for rule in rules:
        exit_code = None if outcome.exit_code is None else str(outcome.exit_code)
        if (
            _glob(rule.get("OnStatusReason"), outcome.status_reason)
            and _glob(rule.get("OnReason"), outcome.reason)
            and _glob(rule.get("OnExitCode"), exit_code)
        ):
            return rule["Action"]
    return None


@dataclass
class BatchJobs:
    """Runs .sync SubmitJob calls against one job definition's RetryStrategy."""

    retry_strategy: dict
    attempt: Callable[[dict, int], AttemptOutcome]

    def submit(self, parameters: dict) -> dict:
        """The finished job's description; StatesError States.TaskFailed (its Cause the description) if FAILED."""
        attempts, job_id = [], uuid.uuid4().hex
        for number in range(1, self.retry_strategy.get("Attempts", 1) + 1):
            outcome = self.attempt(parameters, number)
            attempts.append(outcome)
            if outcome.exit_code == 0:
                break
            if decision(self.retry_strategy.get("EvaluateOnExit", []), outcome) == "EXIT":
                break
        last = attempts[-1]
        job = {
            "JobId": job_id,
            "JobName": parameters["JobName"],
            "JobQueue": parameters["JobQueue"],
            "JobDefinition": parameters["JobDefinition"],
            "Status": "SUCCEEDED" if last.exit_code == 0 else "FAILED",
            "StatusReason": last.status_reason,
            "Attempts": [{"StatusReason": a.status_reason} for a in attempts],
            "Container": {
                "Command": parameters["ContainerOverrides"]["Command"],
                "ExitCode": last.exit_code,
                "LogStreamName": "gpu-runner/default/test",
                **({"Reason": last.reason} if last.reason else {}),
            },
        }
        if last.exit_code != 0:
            raise StatesError("States.TaskFailed", json.dumps(job))
        return job
