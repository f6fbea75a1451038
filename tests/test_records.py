"""The typed experiment record: conversion to and from the stored JSON keeps its shape exactly."""

from __future__ import annotations

import pytest

from aiv.evaluate import SUMMARY_KEYS, summarise
from aiv.store.records import HEADLINE_KEYS, Experiment, ResultSummary, Summaries, new_experiment

# the keys a stored experiment holds, in the order every store has written them
STORED_KEYS = [
    "id",
    "run_id",
    "created_at",
    "updated_at",
    "status",
    "stage",
    "parents",
    "proposer",
    "model",
    "hypothesis",
    "code_sha256",
    "code_key",
    "attempts",
    "failure",
    "score",
    "score_validation",
    "summary",
    "result_key",
    "clip_scores",
    "best_point",
    "cost",
    "settings",
    "benchmark",
]


def clip(name: str, x264: float | None, x265: float, caveat: str | None = None) -> dict:
    """A clip record's BD-rates as aiv.evaluate writes them (no VMAF measured)."""
    return {
        "name": name,
        "bd_rate": {
            "x264": {
                "psnr_y": {
                    "value": x264,
                    "reason": None if x264 is not None else "ranges do not overlap",
                    "caveat": caveat,
                },
                "vmaf": {"value": None, "reason": "VMAF was not measured (--no-vmaf)", "caveat": None},
            },
            "x265": {"psnr_y": {"value": x265, "reason": None, "caveat": None}},
        },
    }


def test_a_new_experiment_is_stored_with_the_same_keys_as_before():
    record = new_experiment("run-1", "offline", ["exp-p"], "h", "a" * 64, benchmark="bm-1").as_record()
    assert list(record) == STORED_KEYS
    assert record["code_key"] == f"code/{'a' * 64}.py" and record["summary"] is None and record["attempts"] == []


def test_the_summary_keys_are_the_evaluators():
    assert HEADLINE_KEYS == tuple(f"bd_rate_{anchor}_{metric}" for anchor, metric in SUMMARY_KEYS)


@pytest.mark.parametrize(
    "clips",
    [
        [clip("a", -4.0, 2.5), clip("b", -2.0, 3.5, caveat="from 3 test points")],
        [clip("a", None, 2.5), clip("b", -2.0, 3.5)],  # not comparable on x264
    ],
)
def test_a_result_summary_round_trips_what_summarise_writes(clips):
    written = summarise(clips)
    summary = ResultSummary.from_record(written)
    assert summary.as_record() == written
    assert summary.value("bd_rate_x265_psnr_y") == pytest.approx(3.0)
    with pytest.raises(ValueError, match="bd_rate_x999"):
        summary.value("bd_rate_x999")


def test_a_full_record_round_trips_exactly():
    summary = summarise([clip("a", -4.0, 2.5, caveat="from 3 test points")])
    record = {
        **new_experiment("run-1", "claude", ["exp-p"], "sharper", "b" * 64, "claude-x", benchmark="bm-1").as_record(),
        "status": "succeeded",
        "stage": "record",
        "score": -4.0,
        "score_validation": -3.5,
        "summary": {"train": summary, "validation": None},
        "result_key": "results/x.json",
        "clip_scores": {"a": -4.0},
        "best_point": {"quality": 0.6, "kbps": 300.0},
        "attempts": [{"attempt": 1, "stage": "smoke", "reason": "boom", "code_sha256": None, "hypothesis": ""}],
        "failure": None,
        "settings": {"frames": 8},
    }
    experiment = Experiment.from_record(record)
    assert experiment.as_record() == record and list(experiment.as_record()) == STORED_KEYS
    assert experiment.summary_of("train") == ResultSummary.from_record(summary)
    assert experiment.summary_of("validation") is None and experiment.score_of("validation") == -3.5
    for bad in (experiment.summary_of, experiment.score_of):
        with pytest.raises(ValueError, match="test"):
            bad("test")


def test_an_older_record_reads_with_defaults_and_keeps_what_this_code_does_not_know():
    record = new_experiment("run-1", "offline", [], "h", None, benchmark="bm-1").as_record()
    del record["benchmark"], record["best_point"], record["clip_scores"]
    record["rd_signature"] = [[120.5, 33.25]]
    record["summary"] = {
        "train": {"bd_rate_x264_psnr_y": -1.0, "bd_rate_x265_psnr_y": None, "not_comparable": {}},
        "validation": None,
    }  # before VMAF and caveats were summarised
    experiment = Experiment.from_record(record)
    assert experiment.benchmark == "unknown" and experiment.best_point is None and experiment.clip_scores is None
    assert experiment.summary_of("train") == ResultSummary(bd_rate_x264_psnr_y=-1.0)
    assert experiment.extra == {"rd_signature": [[120.5, 33.25]]}
    assert experiment.as_record()["rd_signature"] == [[120.5, 33.25]]


def test_a_record_without_a_required_field_is_refused_by_name():
    record = new_experiment("run-1", "offline", [], "h", None, benchmark="bm-1").as_record()
    del record["proposer"]
    with pytest.raises(ValueError, match="proposer"):
        Experiment.from_record(record)


def test_changes_name_fields_an_experiment_has():
    experiment = new_experiment("run-1", "offline", [], "h", None, benchmark="bm-1")
    assert experiment.with_fields({"status": "validating"}).status == "validating"
    for field in ("note", "extra"):
        with pytest.raises(ValueError, match=field):
            experiment.with_fields({field: 1})


def test_summaries_of_a_failed_and_a_finished_outcome():
    assert Summaries.from_result({"status": "failed", "train": None, "validation": None}) == Summaries()
    assert Summaries().as_record() == {"train": None, "validation": None}
    written = summarise([clip("a", -4.0, 2.5)])
    summaries = Summaries.from_result({"train": {"summary": written}, "validation": {"summary": None}})
    assert summaries.as_record() == {"train": written, "validation": None}
