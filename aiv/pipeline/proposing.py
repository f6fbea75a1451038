"""The propose step: a proposer writes a candidate module (or a rerun takes archived code as it is)."""

from __future__ import annotations

import random

from aiv.candidate_loop import rejection
from aiv.codec.contract import CodecSource
from aiv.names import code_key, reply_key
from aiv.pipeline.costs import add_usage
from aiv.pipeline.events import ProposeEvent, Proposed
from aiv.pipeline.lab import Lab
from aiv.pipeline.recording import reject
from aiv.search.archive import build_context, select_parent
from aiv.search.proposer import Proposal, ProposalError
from aiv.store.ports import require_experiment
from aiv.store.records import Experiment, new_experiment


def propose(event: ProposeEvent, lab: Lab) -> Proposed:
    """Ask a proposer for a candidate module.

    In: ProposeEvent; "experiment_id" and "feedback" are set when a previous attempt of this
    candidate was rejected, and the proposer is then shown every recorded attempt with the reply
    that made it (stored here, at aiv.names.reply_key). With "rerun_of" the candidate is that
    experiment's code, unchanged (see propose_rerun). Out: Proposed, with a rejection's fields when
    "proposed" is false.
    """
    if event.get("rerun_of"):
        return propose_rerun(event, lab)
    experiments = lab.experiments
    experiment: Experiment | None = None
    mode = "retry"
    if event.get("experiment_id"):
        experiment = require_experiment(experiments, str(event["experiment_id"]))
        parent = require_experiment(experiments, experiment.parents[0])
    else:
        selection = select_parent(experiments, random.Random(event["random_seed"]), lab.benchmark_id)
        parent, mode = selection.parent, selection.mode
    attempt = len(experiment.attempts) + 1 if experiment else 1
    # a retried candidate's recorded attempts (each with the model's reply) become the conversation
    context = build_context(
        experiments,
        lab.artifacts,
        parent,
        event["random_seed"] * 100 + attempt,
        experiment=experiment,
        settings=lab.settings,
        benchmark=parent.benchmark,
    )
    # The proposer runs before a new experiment exists: if it crashes (not a ProposalError), no
    # experiment is left open that the failure handler could not name.
    outcome: Proposal | ProposalError
    try:
        outcome = lab.make_proposer(event["proposer"]).propose(context)
    except ProposalError as failure:
        outcome = failure
    if experiment is None:
        named = outcome.parents if isinstance(outcome, Proposal) and outcome.parents else None
        parents = named or [parent.id]
        experiment = new_experiment(event["run_id"], event["proposer"], parents, "", None, benchmark=lab.benchmark_id)
        experiments.create_experiment(experiment)
        shown = "" if parents == [parent.id] else f"; it was shown {parent.id}"
        experiments.add_event(
            experiment.id,
            "propose",
            f"improving {', '.join(parents)} ({mode}) with the {event['proposer']} proposer{shown}",
        )
    out: Proposed = {
        "run_id": event["run_id"],
        "experiment_id": experiment.id,
        "proposer": event["proposer"],
        "random_seed": event["random_seed"],
        "attempt": attempt,
        "proposed": True,
    }
    if outcome.reply:
        lab.artifacts.put(reply_key(experiment.id, attempt), outcome.reply.encode(), "text/plain")
    if isinstance(outcome, ProposalError):
        add_usage(experiments, experiment.id, outcome.usage)
        reject(lab, experiment.id, attempt, "propose", outcome.reason, made_module=False)
        return out | {"proposed": False, **rejection("propose", outcome.reason, event["proposer"])}
    proposal = outcome
    source = CodecSource(experiment.id, proposal.code, "proposal")
    lab.artifacts.put(code_key(source.sha256), proposal.code.encode(), "text/x-python")
    experiments.update_experiment(
        experiment.id,
        {
            "code_sha256": source.sha256,
            "code_key": code_key(source.sha256),
            "hypothesis": proposal.hypothesis,
            "model": proposal.model,
            "parents": proposal.parents or experiment.parents,
            "stage": "propose",
        },
    )
    add_usage(experiments, experiment.id, proposal.usage)
    experiments.add_event(experiment.id, "propose", f"attempt {attempt}: {proposal.hypothesis[:200]}")
    return out


def propose_rerun(event: ProposeEvent, lab: Lab) -> Proposed:
    """A new experiment with the exact code of experiment `rerun_of`, to measure it again (new clips,
    settings or lab version). It is exempt from the duplicate checks, not from the policy; its
    rejections carry "retry" false (aiv/candidate_loop.py), so it is proposed once."""
    if event.get("experiment_id"):
        raise ValueError(f"a rerun is proposed once: {event['experiment_id']} was already proposed")
    original = lab.experiments.get_experiment(event["rerun_of"]) if event["rerun_of"] else None
    if original is None or not original.code_sha256:
        raise ValueError(f"cannot rerun {event['rerun_of']}: no such experiment with code in this store")
    experiment = new_experiment(
        event["run_id"],
        "rerun",
        [original.id],
        f"re-evaluation of {original.id}",
        original.code_sha256,
        model=original.model,
        benchmark=lab.benchmark_id,
    )
    lab.experiments.create_experiment(experiment)
    lab.experiments.add_event(experiment.id, "propose", f"rerun of {original.id}")
    return {
        "run_id": event["run_id"],
        "experiment_id": experiment.id,
        "proposer": "rerun",
        "random_seed": event["random_seed"],
        "attempt": 1,
        "proposed": True,
    }
