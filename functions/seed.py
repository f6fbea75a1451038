"""Lambda: enter one built-in codec into the archive (aiv.pipeline.seeding.seed), the first state of a seed item.

Input: {"run_id", "name"}. Output: {"run_id", "experiment_id", "created"}; "created" is False when
the store already holds that codec (an earlier execution seeded it), and the state machine then
leaves it as it is. Payload: see aiv/aws/step_handler.py.
"""

from __future__ import annotations

from aiv.aws.observability import count
from aiv.aws.step_handler import on_input, step_handler
from aiv.pipeline.seeding import seed


def note(output: dict) -> None:
    """SeedsCreated, or SeedsArchived when the codec was already in the store."""
    count("SeedsCreated" if output["created"] else "SeedsArchived")


handler = step_handler(on_input(seed), note)
