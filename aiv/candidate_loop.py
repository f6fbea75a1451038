"""The candidate loop's rules, in one import-free place: how often a candidate is proposed, which
outcomes go back to propose and which end it.

    propose -> validate -> evaluate -> record
       ^          |            |           |
       +----------+------------+-----------+  a rejection with "retry" true, while attempts are left

Every rejection a step returns carries {"stage", "reason", RETRY_FIELD}; RETRY_FIELD false is the
explicit "do not retry" outcome (a rerun measures fixed code: proposing it again cannot change
it). The local runner (aiv/runner.py) and the state machine (stacks/pipeline.py) both follow
`next_after_rejection`; this module imports nothing, so the stacks read it without the pipeline.
"""

MAX_PROPOSAL_ATTEMPTS = 3  # a candidate is proposed at most this often
RETRY_FIELD = "retry"  # in a rejection: whether the candidate goes back to propose
NOT_RETRIED_PROPOSERS = ("rerun",)  # experiments whose rejection ends them at once
RETRY, REJECT = "retry", "reject"


def rejection(stage: str, reason: str, proposer: str) -> dict:
    """The fields every rejection carries: where, why, and whether the candidate may be proposed again."""
    return {"stage": stage, "reason": reason, RETRY_FIELD: proposer not in NOT_RETRIED_PROPOSERS}


def next_after_rejection(rejected: dict, attempt: int) -> str:
    """RETRY (back to propose with the reason) or REJECT (close the candidate as rejected)."""
    return RETRY if rejected[RETRY_FIELD] and attempt < MAX_PROPOSAL_ATTEMPTS else REJECT


def closing_reason(rejected: dict, attempt: int) -> str:
    """The reason recorded on a candidate whose last rejection ends it."""
    return f"rejected {attempt} time{'s' if attempt != 1 else ''}; last at {rejected['stage']}: {rejected['reason']}"
