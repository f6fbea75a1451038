"""The duplicate rules: identical code, identical code once comments, docstrings and formatting are
ignored, or identical bitstreams on the cascade stage; a genuine change is never a duplicate."""

from __future__ import annotations

from test_pipeline import ScriptedProposer, anchor_cache, make_lab, seeded  # noqa: F401 (fixtures)

from aiv.runner import run_candidate

RENAMED = ("payload", "body")  # a different program text that writes exactly the same bytes


def attempts_of(lab, outcome) -> list[dict]:
    return lab.experiments.get_experiment(outcome.experiment_id).attempts


def test_a_comment_or_docstring_change_is_a_duplicate_of_the_archived_program(seeded, tiny_codec_source):
    reworded = '"""The same codec, described."""\n' + tiny_codec_source.replace(
        "def _step(quality: float) -> int:\n", "def _step(quality: float) -> int:\n    # the step at a quality\n"
    )
    lab = seeded(ScriptedProposer([reworded]))
    [first, *_] = attempts_of(lab, run_candidate(lab, "run-1", "scripted", 1))
    assert first["stage"] == "duplicate"
    assert "once comments, docstrings and formatting are ignored" in first["reason"]


def test_identical_bitstreams_on_the_cascade_stage_are_a_duplicate(seeded, tiny_codec_source):
    lab = seeded(ScriptedProposer([tiny_codec_source.replace(*RENAMED)]))
    [first, *_] = attempts_of(lab, run_candidate(lab, "run-1", "scripted", 1))
    assert first["stage"] == "duplicate"
    assert "bitstreams on the cascade stage are identical to those of" in first["reason"]


def test_a_genuine_change_is_not_a_duplicate_even_when_the_smoke_clip_cannot_tell(seeded, tiny_codec_source):
    # a change the 96x64 smoke clip does not show (the old smoke RD-signature rule rejected such changes)
    variant = tiny_codec_source.replace(
        "    step = _step(quality)\n", "    step = _step(quality) + (1 if y.shape[2] < 96 else 0)\n"
    )
    lab = seeded(ScriptedProposer([variant]))
    outcome = run_candidate(lab, "run-1", "scripted", 1)
    assert outcome.status == "succeeded", attempts_of(lab, outcome)
    assert attempts_of(lab, outcome) == []
