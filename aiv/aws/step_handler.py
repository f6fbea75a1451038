"""The shape of every pipeline-step Lambda: parse the state machine's payload, run the step, return its output.

The state machine invokes each step with

    {"execution": $$.Execution.Id, "step": <state name>, "attempt": n, "item": <map index>, "input": {...},
     "corpus"?: <set name>}

and takes the step's output dict back. "corpus" names the clip set uploaded with `aiv clips upload
--corpus` that the execution trains and validates on ("" or absent: AIV_SETTINGS' clips); the step's
Lab has that set's clip lists (aiv.aws.environment.lab_for_corpus). The handler is idempotent on [execution, step, attempt,
item] (Powertools idempotency on the AIV_IDEMPOTENCY_TABLE table): a retried invocation of the
same state returns the stored output instead of running the step again. Logs carry those four
keys; each step counts what happened in CloudWatch metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent

from aiv.aws.environment import lab_for_corpus, require_env
from aiv.aws.observability import logger, metrics, tracer
from aiv.names import IDEMPOTENCY_TABLE
from aiv.pipeline.lab import Lab
from aiv.store.table_design import IDEMPOTENCY_KEY, IDEMPOTENCY_TTL_ATTRIBUTE

IDEMPOTENCY_KEY_PATH = "[execution, step, attempt, item]"
PAYLOAD_KEYS = ("execution", "step", "attempt", "item", "input")


@dataclass(frozen=True)
class StepPayload:
    """One invocation of a step by the state machine."""

    execution: str
    step: str
    attempt: int
    item: int
    input: dict
    corpus: str = ""

    @classmethod
    def parse(cls, event: Any) -> "StepPayload":
        """The payload of `event`; ValueError naming what is missing or of the wrong type."""
        if not isinstance(event, dict):
            raise ValueError(f"a step event is a JSON object with {list(PAYLOAD_KEYS)}, got {type(event).__name__}")
        missing = [key for key in PAYLOAD_KEYS if key not in event]
        if missing:
            raise ValueError(f"the step event lacks {missing}; it has {sorted(event)}")
        checks = {"execution": str, "step": str, "attempt": int, "item": int, "input": dict}
        wrong = [
            f"{key} ({type(event[key]).__name__}, not {kind.__name__})"
            for key, kind in checks.items()
            if not isinstance(event[key], kind) or isinstance(event[key], bool)
        ]
        if not isinstance(event.get("corpus", ""), str):
            wrong.append(f"corpus ({type(event['corpus']).__name__}, not str)")
        if wrong:
            raise ValueError(f"the step event has fields of the wrong type: {', '.join(wrong)}")
        return cls(**{key: event[key] for key in PAYLOAD_KEYS}, corpus=event.get("corpus", ""))


Step = Callable[[StepPayload, Lab], dict]


def on_input(step: Callable[[dict, Lab], dict]) -> Step:
    """A pipeline step (aiv/pipeline/: event dict in, event dict out) as a Step over the payload's input."""
    return lambda payload, lab: step(payload.input, lab)


def persistence_layer() -> DynamoDBPersistenceLayer:
    """The idempotency records' table, with the key and TTL attributes the storage stack declares."""
    return DynamoDBPersistenceLayer(
        table_name=require_env(IDEMPOTENCY_TABLE), key_attr=IDEMPOTENCY_KEY, expiry_attr=IDEMPOTENCY_TTL_ATTRIBUTE
    )


def step_handler(step: Step, note: Callable[[dict], None]) -> Callable[[dict, Any], dict]:
    """A Lambda handler running `step` on the payload; `note(output)` records the step's metrics.

    The payload is checked before anything else, so a malformed event fails with what is wrong.
    """
    config = IdempotencyConfig(event_key_jmespath=IDEMPOTENCY_KEY_PATH, raise_on_no_idempotency_key=True)

    @idempotent(persistence_store=persistence_layer(), config=config)
    def run_once(event: dict, context: Any) -> dict:
        payload = StepPayload.parse(event)
        output = step(payload, lab_for_corpus(payload.corpus))
        note(output)
        return output

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handler(event: dict, context: Any) -> dict:
        payload = StepPayload.parse(event)
        logger.append_keys(execution=payload.execution, step=payload.step, attempt=payload.attempt, item=payload.item)
        output = run_once(event, context)
        logger.info("step done", extra={"output": output})
        return output

    return handler
