"""Parent selection, diversity and what the archive shows a proposer: warm-up, exploration within reach,
lineage, in-flight rejections, and the recorded attempts that become a conversation."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import replace

import pytest

from aiv.codec.policy import MAX_SOURCE_BYTES
from aiv.search.archive import (
    EXPLORE_WITHIN,
    WARMUP_PROPOSALS,
    EmptyArchive,
    build_context,
    lineage,
    most_different,
    recent_rejections,
    select_parent,
)
from aiv.settings import CampaignSettings
from aiv.store import open_local_store
from aiv.names import code_key, reply_key
from aiv.store.records import Experiment, new_experiment
from aiv.video.corpus import CORPUS_NAMES, KINDS
from aiv.video.descriptions import CORPUS_CONTENT, content_of

BENCHMARK = "bm-archive-test"  # every experiment of these tests is measured on one benchmark


@pytest.fixture
def stores(tmp_path):
    return open_local_store(tmp_path / "lab")


def add(
    stores,
    name: str,
    score: float | None,
    clip_scores: dict | None = None,
    proposer: str = "offline",
    parents: tuple[str, ...] = (),
    status: str = "succeeded",
    code: str | None = None,
    **fields,
) -> Experiment:
    """An experiment in the store with its code artifact (and a result with one clip, if scored)."""
    experiments, artifacts = stores
    code = code if code is not None else f"NAME = {name!r}\n"
    sha = f"{abs(hash(code)):064x}"[:64]
    artifacts.put(code_key(sha), code.encode(), "text/x-python")
    record = new_experiment(
        "run-1", proposer, list(parents), f"hypothesis of {name}", sha, experiment_id=name, benchmark=BENCHMARK
    )
    experiments.create_experiment(record)
    update = {
        "status": status,
        "score": score,
        "clip_scores": clip_scores or ({"a": score} if score is not None else {}),
    }
    if score is not None:
        result = {
            "train": {
                "clips": [
                    {
                        "name": "a",
                        "source": "builtin:pan_zoom",
                        "width": 352,
                        "height": 288,
                        "frames": 8,
                        "fps": 30.0,
                        "bd_rate": {},
                        "points": [],
                        "anchors": {},
                    }
                ]
            }
        }
        artifacts.put(f"results/{name}.json", json.dumps(result).encode(), "application/json")
        update["result_key"] = f"results/{name}.json"
    return experiments.update_experiment(name, update | fields)


def test_an_empty_archive_is_an_error(stores):
    with pytest.raises(EmptyArchive):
        select_parent(stores[0], random.Random(0), BENCHMARK)


def test_the_first_proposals_all_improve_the_best_program(stores):
    add(stores, "seed-intra", 546.0, proposer="builtin")
    add(stores, "seed-hybrid", 76.0, proposer="builtin")
    for i in range(WARMUP_PROPOSALS - 1):
        add(stores, f"cand-{i}", 80.0 + i, parents=("seed-hybrid",))
    picks = {select_parent(stores[0], random.Random(seed), BENCHMARK).parent.id for seed in range(50)}
    modes = {select_parent(stores[0], random.Random(seed), BENCHMARK).mode for seed in range(50)}
    assert picks == {"seed-hybrid"} and modes == {"warm-up"}


def test_a_grown_archive_mixes_exploitation_exploration_and_seeds(stores):
    add(stores, "seed-intra", 546.0, proposer="builtin")
    add(stores, "seed-hybrid", 76.0, {"a": 70.0, "b": 82.0}, proposer="builtin")
    add(stores, "best", 60.0, {"a": 50.0, "b": 70.0})
    add(stores, "close", 62.0, {"a": 52.0, "b": 72.0})
    add(stores, "different", 70.0, {"a": 90.0, "b": 50.0})
    add(stores, "far", 60.0 + EXPLORE_WITHIN + 1, {"a": 300.0, "b": -100.0})
    modes, explored, seeded = Counter(), set(), set()
    for seed in range(400):
        selection = select_parent(stores[0], random.Random(seed), BENCHMARK)
        modes[selection.mode] += 1
        if selection.mode == "explore":
            explored.add(selection.parent.id)
        if selection.mode == "seed":
            seeded.add(selection.parent.id)
    assert set(modes) == {"exploit", "explore", "seed"} and modes["exploit"] > modes["explore"] > modes["seed"]
    assert explored == {"different"}  # the most different behaviour within reach, never "far"
    assert seeded == {"seed-hybrid"}  # intra is out of reach


def test_most_different_compares_per_clip_behaviour_not_the_score():
    def scored(name: str, clip_scores: dict) -> Experiment:
        return replace(
            new_experiment("run-1", "offline", [], "", None, experiment_id=name, benchmark=BENCHMARK),
            clip_scores=clip_scores,
        )

    reference = scored("reference", {"a": 10.0, "b": 10.0})
    same_score = scored("swap", {"a": 0.0, "b": 20.0})  # same mean, different strengths
    near = scored("near", {"a": 12.0, "b": 12.0})
    unknown = scored("unknown", {"c": 99.0})
    assert most_different(reference, [near, same_score, unknown]).id == "swap"


def test_the_context_shows_the_best_and_the_most_different_others(stores):
    add(stores, "parent", 60.0, {"a": 50.0, "b": 70.0})
    add(stores, "second", 61.0, {"a": 51.0, "b": 71.0})
    add(stores, "third", 62.0, {"a": 52.0, "b": 72.0})
    add(stores, "different", 70.0, {"a": 90.0, "b": 50.0})
    add(stores, "far", 60.0 + EXPLORE_WITHIN + 1, {"a": 900.0, "b": -500.0})
    context = build_context(*stores, stores[0].get_experiment("parent"), seed=1, benchmark=BENCHMARK)
    assert [entry.experiment_id for entry in context.others] == ["second", "different", "third"]
    assert context.parent.code == "NAME = 'parent'\n"


def test_the_lineage_walks_first_parents_with_each_change(stores):
    add(stores, "seed", 80.0, {"a": 80.0}, proposer="builtin")
    add(stores, "child", 70.0, {"a": 70.0}, parents=("seed",))
    add(stores, "grandchild", 65.0, {"a": 65.0}, parents=("child",))
    steps = lineage(stores[0].get_experiment("grandchild"), stores[0])
    assert [s.experiment_id for s in steps] == ["grandchild", "child", "seed"]
    assert (steps[0].score, steps[0].parent_score, steps[0].parent_clip_scores) == (65.0, 70.0, {"a": 70.0})
    assert steps[2].parent_score is None and steps[2].hypothesis == "hypothesis of seed"
    assert len(lineage(stores[0].get_experiment("grandchild"), stores[0], depth=2)) == 2
    context = build_context(*stores, stores[0].get_experiment("grandchild"), seed=1, benchmark=BENCHMARK)
    assert [s.experiment_id for s in context.parent.lineage] == ["grandchild", "child", "seed"]


def test_rejections_include_closed_and_in_flight_ones_but_not_the_candidate_itself(stores):
    add(stores, "failed-one", None, status="failed", failure={"stage": "encode", "reason": "boom"})
    attempts = [{"attempt": 1, "stage": "smoke", "reason": "reshape failed", "code_sha256": None}]
    add(stores, "in-flight", None, status="proposed", attempts=attempts)
    add(
        stores,
        "retried",
        None,
        status="proposed",
        attempts=[{"attempt": 1, "stage": "policy", "reason": "import os", "code_sha256": None}],
    )
    reasons = {r.experiment_id: (r.stage, r.reason) for r in recent_rejections(stores[0], exclude="retried")}
    assert reasons == {"failed-one": ("encode", "boom"), "in-flight": ("smoke", "reshape failed")}


def test_recorded_attempts_become_the_conversation_with_replies_and_modules(stores):
    experiments, artifacts = stores
    add(stores, "parent", 60.0)
    module = "def encode(y, u, v, fps, quality):\n    return b''\n"
    sha = "ab" * 32
    artifacts.put(code_key(sha), module.encode(), "text/x-python")
    artifacts.put(reply_key("cand", 2), b"<hypothesis>Try.</hypothesis> ...", "text/plain")
    attempts = [
        {"attempt": 1, "stage": "propose", "reason": "no code", "code_sha256": None},
        {"attempt": 2, "stage": "smoke", "reason": "decode failed", "code_sha256": sha, "hypothesis": "Try."},
    ]
    candidate = add(stores, "cand", None, status="proposed", parents=("parent",), attempts=attempts)
    context = build_context(
        experiments,
        artifacts,
        experiments.get_experiment("parent"),
        seed=1,
        benchmark=BENCHMARK,
        experiment=candidate,
        settings=CampaignSettings(timeout_s=120.0, memory_mb=2048),
    )
    first, second = context.attempts
    assert (first.rejection.stage, first.reply, first.code) == ("propose", None, None)
    assert (second.reply, second.code, second.rejection.hypothesis) == (
        "<hypothesis>Try.</hypothesis> ...",
        module,
        "Try.",
    )
    assert context.retry_feedback.reason == "decode failed" and context.edit_base == module
    assert all(r.experiment_id != "cand" for r in context.rejections)
    assert (context.limits.timeout_s, context.limits.memory_mb, context.limits.module_bytes) == (
        120.0,
        2048,
        MAX_SOURCE_BYTES,
    )


def test_the_parent_clips_carry_what_each_clip_is(stores):
    add(stores, "parent", 60.0)
    [clip] = build_context(*stores, stores[0].get_experiment("parent"), seed=1, benchmark=BENCHMARK).parent.clips
    assert (clip["width"], clip["height"], clip["frames"], clip["fps"]) == (352, 288, 8, 30.0)
    assert clip["content"] == CORPUS_CONTENT["pan_zoom"]


def test_every_built_in_clip_is_described_and_files_are_not():
    assert set(CORPUS_CONTENT) == set(KINDS)
    assert all(content_of(f"builtin:{name}") for name in CORPUS_NAMES)
    assert (
        content_of("builtin:val_noisy_static") == content_of("builtin:noisy_static") == CORPUS_CONTENT["noisy_static"]
    )
    assert content_of("/clips/foreman_cif.y4m") is None
