"""Lambda: the static validation step (aiv.pipeline.validation.validate). Payload and output: see aiv/aws/step_handler.py."""

from __future__ import annotations

from aiv.aws.observability import count
from aiv.aws.step_handler import on_input, step_handler
from aiv.pipeline.validation import validate


def note(output: dict) -> None:
    """ValidationPassed, or ValidationRejected (policy or identical code)."""
    count("ValidationPassed" if output["valid"] else "ValidationRejected")


handler = step_handler(on_input(validate), note)
