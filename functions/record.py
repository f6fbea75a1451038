"""Lambda: the record step (aiv.pipeline.recording.record), after the Batch evaluation wrote results/<id>.json.

Payload and output: see aiv/aws/step_handler.py.
"""

from __future__ import annotations

from aiv.aws.observability import count
from aiv.aws.step_handler import on_input, step_handler
from aiv.pipeline.recording import record


def note(output: dict) -> None:
    """EvaluationRejected (smoke run: back to propose), else ExperimentsRecorded plus Succeeded or Failed."""
    if output["rejected"]:
        count("EvaluationRejected")
    elif output["recorded"]:
        count("ExperimentsRecorded")
        count("ExperimentsSucceeded" if output["status"] == "succeeded" else "ExperimentsFailed")


handler = step_handler(on_input(record), note)
