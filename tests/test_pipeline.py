"""The steps and the local runner: ordering, bounded retries with feedback, failures, idempotency, resume."""

from __future__ import annotations

import os
import threading

import pytest
from clip_helpers import TEST_SECRET, crop_clip

from aiv.codec.contract import CodecSource
from aiv.cascade import evaluate
from aiv.pipeline.lab import Lab
from aiv.pipeline.recording import mark_failed, record
from aiv.pipeline.seeding import seed
from aiv.pipeline.validation import validate
from aiv.runner import CampaignRun, RunOptions, close_orphans, run_candidate
from aiv.search.proposer import Proposal, ProposalContext, ProposalError, Usage
from aiv.settings import CampaignSettings
from aiv.store import open_local_store
from aiv.names import best_history_key, code_key
from aiv.store.records import Experiment, new_experiment, now_iso
from aiv.store.runs import RunState, write_run
from aiv.video.corpus import builtin_clip

POLICY_BREAKER = "import os\ndef encode(y, u, v, fps, quality):\n    return b''\ndef decode(b):\n    return None\n"
CRASHER = (
    "def encode(y, u, v, fps, quality):\n    raise ValueError('boom in encode')\ndef decode(b):\n    return None\n"
)


class ScriptedProposer:
    """Returns the given modules in order (an exception instance is raised instead); keeps every context."""

    name = "scripted"

    def __init__(self, script: list, usd: float = 0.0):
        self.script = list(script)
        self.contexts: list[ProposalContext] = []
        self.usd = usd
        self.lock = threading.Lock()

    def propose(self, context: ProposalContext) -> Proposal:
        with self.lock:
            self.contexts.append(context)
            item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, BaseException):
            raise item
        return Proposal(
            code=item,
            hypothesis=f"try {len(self.contexts)}",
            parents=[context.parent.experiment_id],
            proposer="scripted",
            model="script-1",
            usage=Usage(100, 50, self.usd),
        )


def tiny_loader(spec: str, frames: int):
    return crop_clip(builtin_clip(spec, frames=frames, secret=TEST_SECRET), 64, 48, frames, name=spec)


@pytest.fixture(scope="session")
def anchor_cache(tmp_path_factory):
    """One anchor cache for the whole session: the same tiny clips are measured once."""
    return tmp_path_factory.mktemp("anchor-cache")


@pytest.fixture
def make_lab(tmp_path, anchor_cache):
    def make(proposer: ScriptedProposer) -> Lab:
        experiments, artifacts = open_local_store(tmp_path / "lab")
        settings = CampaignSettings(
            qualities=(0.3, 0.7),
            frames=3,
            train_clips=("moving_object",),
            validation_clips=("pan_zoom",),
            anchors=("x264",),
            timeout_s=60,
        )
        return Lab(
            experiments, artifacts, settings, lambda name: proposer, cache_dir=anchor_cache, clip_loader=tiny_loader
        )

    return make


def archive_program(lab: Lab, code: str) -> Experiment:
    """Put `code` in the archive as a succeeded seed, through the real validate/evaluate/record steps."""
    source = CodecSource("seed", code, "test")
    lab.artifacts.put(code_key(source.sha256), code.encode())
    experiment = new_experiment("run-seed", "builtin", [], "seed program", source.sha256, benchmark=lab.benchmark_id)
    lab.experiments.create_experiment(experiment)
    checked = validate({"experiment_id": experiment.id}, lab)
    recorded = record(evaluate(checked, lab), lab)
    assert recorded["status"] == "succeeded", lab.experiments.get_experiment(experiment.id).failure
    return lab.experiments.get_experiment(experiment.id)


@pytest.fixture
def seeded(make_lab, tiny_codec_source):
    """A lab whose archive holds one succeeded program: the documented tiny codec."""

    def make(proposer: ScriptedProposer) -> Lab:
        lab = make_lab(proposer)
        archive_program(lab, tiny_codec_source)
        return lab

    return make


def test_rejections_go_back_to_propose_with_the_exact_reason(seeded, tiny_codec_source):
    variant = tiny_codec_source.replace("round(32 *", "round(24 *")
    proposer = ScriptedProposer([POLICY_BREAKER, CRASHER, variant])
    lab = seeded(proposer)
    outcome = run_candidate(lab, "run-1", "scripted", 7)
    experiment = lab.experiments.get_experiment(outcome.experiment_id)
    assert outcome.status == "succeeded" and experiment.score is not None
    assert [a["stage"] for a in experiment.attempts] == ["policy", "smoke"]
    assert "import of 'os' is not allowed" in proposer.contexts[1].retry_feedback.reason
    assert "boom in encode" in proposer.contexts[2].retry_feedback.reason
    assert proposer.contexts[0].retry_feedback is None
    assert experiment.cost["input_tokens"] == 300 and experiment.cost["compute_s"] > 0
    assert set(outcome.seconds) == {"propose", "validate", "evaluate", "record"}


def test_three_rejections_close_the_experiment_as_rejected(seeded):
    lab = seeded(ScriptedProposer([CRASHER]))
    outcome = run_candidate(lab, "run-1", "scripted", 1)
    experiment = lab.experiments.get_experiment(outcome.experiment_id)
    assert experiment.status == "rejected" and len(experiment.attempts) == 3
    assert experiment.failure["reason"].startswith("rejected 3 times; last at smoke")


def test_identical_code_and_proposal_errors_are_rejections(seeded, tiny_codec_source):
    lab = seeded(ScriptedProposer([ProposalError("no code block", Usage(10, 5, 0.01)), tiny_codec_source]))
    outcome = run_candidate(lab, "run-1", "scripted", 2)
    experiment = lab.experiments.get_experiment(outcome.experiment_id)
    assert [a["stage"] for a in experiment.attempts] == ["propose", "duplicate", "duplicate"]
    assert "identical to the code of" in experiment.attempts[1]["reason"]
    assert experiment.cost["llm_usd"] == pytest.approx(0.01)


def test_an_error_inside_a_step_is_recorded_with_its_stage(seeded, tiny_codec_source):
    lab = seeded(ScriptedProposer([tiny_codec_source.replace("round(32 *", "round(20 *")]))

    real_put = lab.artifacts.put

    def put_failing_on_results(key, data, content_type="application/octet-stream"):
        if key.startswith("results/"):
            raise OSError(f"disk vanished while writing {key}")
        real_put(key, data, content_type)

    lab.artifacts.put = put_failing_on_results
    outcome = run_candidate(lab, "run-1", "scripted", 3)
    experiment = lab.experiments.get_experiment(outcome.experiment_id)
    assert experiment.status == "failed" and experiment.failure["stage"] == "evaluate"
    assert "OSError: disk vanished" in experiment.failure["reason"]


def test_record_and_mark_failed_are_idempotent(seeded):
    lab = seeded(ScriptedProposer([CRASHER]))
    best = lab.experiments.best_experiments(limit=1, benchmark=lab.benchmark_id)[0]
    again = record({"experiment_id": best.id, "result_key": best.result_key}, lab)
    assert again["recorded"] is False and again["status"] == "succeeded"
    assert mark_failed({"experiment_id": best.id, "stage": "x", "reason": "late"}, lab)["recorded"] is False
    assert lab.experiments.get_experiment(best.id).status == "succeeded"
    history = lab.experiments.get_state(best_history_key(lab.benchmark_id))["points"]
    assert [p["experiment_id"] for p in history] == [best.id]


def test_seeds_enter_the_archive_once(make_lab):
    lab = make_lab(ScriptedProposer([CRASHER]))
    first = seed({"run_id": "r", "name": "intra"}, lab)
    second = seed({"run_id": "r2", "name": "intra"}, lab)
    assert first["created"] and not second["created"] and first["experiment_id"] == second["experiment_id"]


def test_a_failed_seed_is_seeded_again(make_lab):
    lab = make_lab(ScriptedProposer([CRASHER]))
    first = seed({"run_id": "r", "name": "intra"}, lab)
    mark_failed({"experiment_id": first["experiment_id"], "stage": "evaluate", "reason": "spot reclaimed"}, lab)
    again = seed({"run_id": "r2", "name": "intra"}, lab)
    assert again["created"] and again["experiment_id"] != first["experiment_id"]


def test_two_runs_seeding_at_once_create_one_seed(make_lab, monkeypatch):
    lab = make_lab(ScriptedProposer([CRASHER]))
    stale_view = lab.experiments.find_by_code  # both runs look before either creates
    monkeypatch.setattr(lab.experiments, "find_by_code", lambda sha: [])
    racers = [seed({"run_id": run, "name": "intra"}, lab) for run in ("r1", "r2")]
    assert [r["created"] for r in racers] == [True, False]
    assert racers[0]["experiment_id"] == racers[1]["experiment_id"]
    assert len(stale_view(lab.experiments.get_experiment(racers[0]["experiment_id"]).code_sha256)) == 1


def test_orphans_of_dead_runs_are_closed_and_live_ones_kept(make_lab):
    lab = make_lab(ScriptedProposer([CRASHER]))
    dead = new_experiment("run-dead", "scripted", [], "h", None, benchmark=lab.benchmark_id)
    live = new_experiment("run-live", "scripted", [], "h", None, benchmark=lab.benchmark_id)
    for experiment in (dead, live):
        lab.experiments.create_experiment(experiment)
    for run_id, pid in (("run-dead", 2**22 + 12345), ("run-live", os.getpid())):
        write_run(
            lab.experiments,
            RunState(
                run_id=run_id,
                pid=pid,
                host=os.uname().nodename,
                started_at=now_iso(),
                heartbeat_at=now_iso(),
                status="running",
            ),
        )
    assert close_orphans(lab, "run-current") == [dead.id]
    closed = lab.experiments.get_experiment(dead.id)
    assert closed.status == "failed" and "interrupted: run run-dead ended" in closed.failure["reason"]
    assert lab.experiments.get_experiment(live.id).status == "proposed"


def test_ctrl_c_leaves_nothing_running(seeded, tiny_codec_source):
    lab = seeded(ScriptedProposer([tiny_codec_source.replace("round(32 *", "round(18 *")]))
    real_put = lab.artifacts.put

    def interrupted_while_evaluating(key, data, content_type="application/octet-stream"):
        if key.startswith("results/"):
            raise KeyboardInterrupt
        real_put(key, data, content_type)

    lab.artifacts.put = interrupted_while_evaluating
    run = CampaignRun(lab, RunOptions(iterations=3, proposer="scripted", seeds=()), report=lambda line: None)
    with pytest.raises(KeyboardInterrupt):
        run.execute()
    assert lab.experiments.get_state(f"run:{run.run_id}")["status"] == "interrupted"
    active = [
        e for s in ("proposed", "validating", "evaluating") for e in lab.experiments.list_experiments(status=s).items
    ]
    assert active == []
    closed = [e for e in lab.experiments.list_experiments(status="failed").items if e.run_id == run.run_id]
    assert len(closed) == 1 and "interrupted by the user" in closed[0].failure["reason"]
    assert closed[0].failure["stage"] == "evaluate"


def test_budget_stops_new_candidates(seeded, tiny_codec_source):
    variants = [tiny_codec_source.replace("round(32 *", f"round({n} *") for n in (10, 12, 14, 16)]
    lab = seeded(ScriptedProposer(variants, usd=1.0))
    lines: list[str] = []
    run = CampaignRun(lab, RunOptions(iterations=4, proposer="scripted", budget_usd=1.5, seeds=()), report=lines.append)
    outcomes = run.execute()
    assert len(outcomes) == 2
    assert any("budget of $1.50 reached" in line for line in lines)


def test_a_rerun_measures_the_same_code_again_as_a_new_experiment(seeded):
    lab = seeded(ScriptedProposer([CRASHER]))
    original = lab.experiments.best_experiments(limit=1, benchmark=lab.benchmark_id)[0]
    first = run_candidate(lab, "run-2", "rerun", 0, rerun_of=original.id)
    second = run_candidate(lab, "run-3", "rerun", 0, rerun_of=original.id)
    for outcome in (first, second):
        rerun = lab.experiments.get_experiment(outcome.experiment_id)
        assert rerun.status == "succeeded" and rerun.proposer == "rerun"
        assert rerun.parents == [original.id] and rerun.code_sha256 == original.code_sha256
        assert rerun.score == pytest.approx(original.score)  # the codec and the clips are deterministic


def test_a_rejected_rerun_is_proposed_once(seeded):
    lab = seeded(ScriptedProposer([CRASHER]))
    source = CodecSource("crasher", CRASHER, "test")
    lab.artifacts.put(code_key(source.sha256), CRASHER.encode())
    crashed = new_experiment("run-old", "scripted", [], "crashes in encode", source.sha256, benchmark=lab.benchmark_id)
    lab.experiments.create_experiment(crashed)
    outcome = run_candidate(lab, "run-2", "rerun", 0, rerun_of=crashed.id)
    rerun = lab.experiments.get_experiment(outcome.experiment_id)
    assert rerun.status == "rejected" and [a["stage"] for a in rerun.attempts] == ["smoke"]
    assert rerun.failure["reason"].startswith("rejected 1 time; last at smoke: encode failed")
    assert [e["kind"] for e in lab.experiments.events(rerun.id)].count("propose") == 1


def test_a_rerun_of_an_unknown_experiment_fails_loudly(seeded):
    lab = seeded(ScriptedProposer([CRASHER]))
    with pytest.raises(ValueError, match="cannot rerun exp-missing"):
        run_candidate(lab, "run-2", "rerun", 0, rerun_of="exp-missing")


def test_a_proposer_crash_leaves_no_open_experiment(seeded):
    lab = seeded(ScriptedProposer([RuntimeError("proposer bug")]))
    before = lab.experiments.count_by_status()
    with pytest.raises(RuntimeError, match="proposer bug"):
        run_candidate(lab, "run-1", "scripted", 4)
    assert lab.experiments.count_by_status() == before
