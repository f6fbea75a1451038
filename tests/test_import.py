"""`aiv import`: a researcher's codec enters the archive after the policy, is evaluated as a seed on the store's
benchmark, and is then a parent for the search."""

from __future__ import annotations

import json
import random

import pytest

from aiv.cli import main
from aiv.codec.policy import PolicyViolation
from aiv.errors import UsageError
from aiv.pipeline.importing import IMPORT_PREFIX, check_import, import_codec
from aiv.local import open_local_lab
from aiv.pipeline.seeding import seed
from aiv.search.archive import select_parent
from aiv.settings import CampaignSettings
from aiv.store import open_local_store
from aiv.store.records import now_iso
from aiv.store.runs import RunState, write_run

BENCHMARK = CampaignSettings(
    qualities=(0.2, 0.5, 0.8),
    frames=4,
    train_clips=("moving_object",),
    validation_clips=(),
    anchors=("x264",),
    anchor_crfs=(30, 36, 42, 48),
)
BROKEN = (
    "def encode(y, u, v, fps, quality):\n    raise RuntimeError('encoder exploded')\n\n"
    "def decode(bitstream):\n    raise RuntimeError('unreachable')\n"
)


@pytest.fixture
def store(tmp_path):
    """A store whose last run used BENCHMARK (a small benchmark: one clip, four frames, x264 only)."""
    path = tmp_path / "lab"
    experiments, _ = open_local_store(path)
    experiments.put_state("campaign", {"last_run": "run-earlier", "recent_runs": ["run-earlier"]})
    write_run(
        experiments,
        RunState(
            run_id="run-earlier",
            pid=1,
            host="elsewhere",
            started_at=now_iso(),
            heartbeat_at=now_iso(),
            status="finished",
            settings=BENCHMARK.as_record(),
        ),
    )
    experiments.close()
    return path


def run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_an_imported_codec_is_evaluated_on_the_stores_benchmark_and_becomes_a_parent(
    store, tmp_path, capsys, tiny_codec_source, monkeypatch
):
    monkeypatch.setenv("AIV_CACHE", str(tmp_path / "cache"))
    module = tmp_path / "my_codec.py"
    module.write_text(tiny_codec_source)
    code, out, err = run(["import", module, "--name", "mine", "--store", store, "--json"], capsys)
    assert code == 0, err
    answer = json.loads(out)
    assert answer["created"] and answer["status"] == "succeeded" and answer["score"] is not None
    lab = open_local_lab(store, BENCHMARK)
    experiment = lab.experiments.get_experiment(answer["experiment_id"])
    assert experiment.id.startswith("exp-import-mine-") and experiment.proposer == "import"
    assert experiment.parents == [] and "my_codec.py" in experiment.hypothesis
    assert experiment.settings == json.loads(json.dumps(BENCHMARK.as_record()))  # the store's benchmark
    result = json.loads(lab.artifacts.get(experiment.result_key))
    assert [c["name"] for c in result["train"]["clips"]] == ["moving_object"]
    assert [p["crf"] for p in result["train"]["clips"][0]["anchors"]["x264"]] == [30, 36, 42, 48]
    kinds = [e["kind"] for e in lab.experiments.events(experiment.id)]
    assert kinds[0] == "import" and kinds[-1] == "record"
    assert select_parent(lab.experiments, random.Random(0), lab.benchmark_id).parent.id == experiment.id
    code, out, _ = run(["import", module, "--store", store], capsys)  # the same module again
    assert code == 0 and f"already in the archive as {experiment.id} (succeeded)" in out


def test_the_policy_refuses_before_anything_is_stored(store, tmp_path, capsys):
    module = tmp_path / "sneaky.py"
    module.write_text(
        "import os\n\ndef encode(y, u, v, fps, quality):\n    return b''\n\ndef decode(b):\n    return None\n"
    )
    code, out, err = run(["import", module, "--store", store], capsys)
    assert code == 3 and out == "" and "the static policy refuses" in err and "os" in err
    experiments, _ = open_local_store(store)
    assert experiments.list_experiments().items == []


def test_a_codec_that_fails_is_rejected_with_its_reason(store, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AIV_CACHE", str(tmp_path / "cache"))
    module = tmp_path / "broken.py"
    module.write_text(BROKEN)
    code, out, _ = run(["import", module, "--store", store], capsys)
    assert code == 3 and "rejected" in out and "encoder exploded" in out
    experiment_id = out.split()[2].rstrip(":")
    assert f'File "{experiment_id}.py", line 2, in encode' in out  # the name `aiv export` gives the module


@pytest.mark.parametrize(
    "argv, message",
    [
        (["missing.py"], "does not exist"),
        (["intra"], "takes a .py codec module"),
    ],
)
def test_bad_usage_exits_2(argv, message, store, capsys):
    code, _, err = run(["import", *argv, "--store", store], capsys)
    assert code == 2 and message in err


def test_names_and_sizes_are_checked():
    with pytest.raises(UsageError, match="name is 1 to 64 letters"):
        check_import("../x", "def encode(): pass")
    with pytest.raises(UsageError, match="empty"):
        check_import("ok", "  \n")
    with pytest.raises(UsageError, match="at most 1,048,576"):
        check_import("ok", "#" * (1 << 20 + 1))
    with pytest.raises(PolicyViolation):
        check_import("ok", "import socket\n")


def test_the_seed_step_evaluates_an_import_once(store, tiny_codec_source):
    lab = open_local_lab(store, BENCHMARK)
    entered = import_codec({"run_id": "r", "name": "mine", "source": tiny_codec_source, "origin": "admin API"}, lab)
    assert entered["created"]
    again = seed({"run_id": "r2", "name": IMPORT_PREFIX + entered["experiment_id"]}, lab)
    assert again == {"run_id": "r2", "experiment_id": entered["experiment_id"], "created": True}  # still to evaluate
    lab.experiments.update_experiment(entered["experiment_id"], {"status": "succeeded"})
    assert not seed({"run_id": "r3", "name": IMPORT_PREFIX + entered["experiment_id"]}, lab)["created"]
    with pytest.raises(ValueError, match="no imported experiment"):
        seed({"run_id": "r", "name": IMPORT_PREFIX + "exp-nothing"}, lab)
