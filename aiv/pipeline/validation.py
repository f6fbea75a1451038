"""The validate step: the static gate (the policy, and code identical to an archived experiment's, as
it is or once comments, docstrings and formatting are ignored; aiv/pipeline/duplicates.py).

Light enough for a Lambda: no numpy, PyAV or sandbox.
"""

from __future__ import annotations

from aiv.candidate_loop import rejection
from aiv.codec.fingerprint import normalised_sha256
from aiv.codec.policy import PolicyViolation, check_policy
from aiv.names import normalised_code_key
from aiv.pipeline.duplicates import earlier_owner
from aiv.pipeline.events import Proposed
from aiv.pipeline.lab import Lab
from aiv.pipeline.recording import reject
from aiv.store.records import Experiment


def validate(event: Proposed, lab: Lab) -> dict:
    """In: propose's output. Out: the same plus {"valid"} and, when invalid, a rejection's fields."""
    experiment = lab.experiments.update_experiment(
        event["experiment_id"], {"status": "validating", "stage": "validate"}, expect_status=("proposed",)
    )
    problem = _static_problem(experiment, lab)
    if problem is None:
        lab.experiments.add_event(experiment.id, "validate", "passed the policy and duplicate-code checks")
        return dict(event) | {"valid": True}
    stage, reason = problem
    reject(lab, experiment.id, event.get("attempt", len(experiment.attempts) + 1), stage, reason)
    return dict(event) | {"valid": False, **rejection(stage, reason, experiment.proposer)}


def _static_problem(experiment: Experiment, lab: Lab) -> tuple[str, str] | None:
    if experiment.code_key is None or experiment.code_sha256 is None:
        raise ValueError(f"experiment {experiment.id} has no code to validate")
    source = lab.artifacts.get(experiment.code_key).decode()
    try:
        check_policy(source)
    except PolicyViolation as violation:
        return "policy", str(violation)
    twins = [
        e
        for e in lab.experiments.find_by_code(experiment.code_sha256)
        if e.id != experiment.id and e.benchmark == experiment.benchmark and (e.failure or {}).get("stage") != "harness"
    ]  # the harness failed there, not the code
    if experiment.proposer == "builtin":  # a seed evaluated again after its failed or interrupted attempts
        twins = [e for e in twins if e.status not in ("failed", "rejected")]
    if twins and experiment.proposer != "rerun":
        return "duplicate", f"the module is identical to the code of {twins[0].id} (status {twins[0].status})"
    normalised = normalised_sha256(source)
    owner = (
        earlier_owner(lab.artifacts, normalised_code_key(experiment.benchmark, normalised), experiment)
        if normalised
        else None
    )
    if owner is not None:
        return "duplicate", (
            f"the module is the same code as {owner}'s once comments, docstrings and formatting are "
            "ignored; change what it does"
        )
    return None
