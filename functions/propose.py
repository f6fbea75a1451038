"""Lambda: the propose step (aiv.pipeline.proposing.propose). Payload and output: see aiv/aws/step_handler.py."""

from __future__ import annotations

from aiv.aws.observability import count
from aiv.aws.step_handler import on_input, step_handler
from aiv.pipeline.proposing import propose


def note(output: dict) -> None:
    """ProposalsCreated, or ProposalsRejected when the proposer gave no usable module."""
    count("ProposalsCreated" if output["proposed"] else "ProposalsRejected")


handler = step_handler(on_input(propose), note)
