"""Lambda: close a candidate that cannot go on (aiv.pipeline.recording.mark_failed), from a Catch or after 3 rejections.

Input: {"experiment_id"?, "stage", "reason" | "error", "status"?: "failed"|"rejected"}. A rejection
passes its reason; a Catch passes the caught error {"Error", "Cause"?}, whose Cause becomes the
reason (the error's name when it has none): the Cause JSON of a Lambda or Batch failure is turned
into one line (the error type and message; never the stack trace). Without an experiment id ("" or absent: a
proposal or a seed failed before its experiment existed) the failure becomes a campaign-level
event and the output is {"experiment_id": None, "status": "failed", "recorded": True}.
"""

from __future__ import annotations

import json

from aiv.aws.observability import count
from aiv.aws.step_handler import StepPayload, step_handler
from aiv.pipeline.lab import Lab
from aiv.pipeline.recording import mark_failed


def readable_cause(cause: str) -> str:
    """One line from a Step Functions error Cause: a Lambda error, a Batch job description, or the text."""
    try:
        data = json.loads(cause)
    except (TypeError, ValueError):
        return cause
    if not isinstance(data, dict):
        return cause
    if "errorMessage" in data:
        return f"{data.get('errorType', 'Error')}: {data['errorMessage']}"
    if "JobId" in data:
        container = data.get("Container") or {}
        parts = [
            f"Batch job {data.get('JobName')} ({data['JobId']}) {data.get('Status')}: {data.get('StatusReason')}",
            f"exit code {container.get('ExitCode')}" + (f" ({container['Reason']})" if container.get("Reason") else ""),
            f"log stream {container.get('LogStreamName')}",
        ]
        return "; ".join(parts)
    return cause


def caught_reason(error: dict) -> str:
    """The reason of a caught error {"Error", "Cause"?}: its readable Cause, else its name."""
    name = error.get("Error") or "an unnamed error"
    cause = readable_cause(error["Cause"]) if isinstance(error.get("Cause"), str) else ""
    return cause or f"{name} (the error carried no cause)"


def close(payload: StepPayload, lab: Lab) -> dict:
    """mark_failed with a readable reason, or a campaign-level event when there is no experiment."""
    step_input = dict(payload.input)
    error = step_input.pop("error", None)
    reason = caught_reason(error) if isinstance(error, dict) else readable_cause(step_input["reason"])
    event = dict(step_input, reason=reason or "no cause was given")
    if event.get("experiment_id"):
        return mark_failed(event, lab)
    lab.experiments.add_event(
        None,
        "failed",
        f"item {payload.item} of {payload.execution} failed at "
        f"{event['stage']} before an experiment existed: {event['reason'][:500]}",
        data={"execution": payload.execution, "item": payload.item, "stage": event["stage"], "reason": event["reason"]},
    )
    return {"experiment_id": None, "status": "failed", "recorded": True}


def note(output: dict) -> None:
    """ExperimentsFailed or ExperimentsRejected; CandidatesFailed when no experiment existed."""
    if output["experiment_id"] is None:
        count("CandidatesFailed")
    elif output["recorded"]:
        count("ExperimentsRejected" if output["status"] == "rejected" else "ExperimentsFailed")


handler = step_handler(close, note)
