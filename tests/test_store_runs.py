"""The run record at the store boundary: typed in, the same document out, a malformed one named."""

from __future__ import annotations

import pytest

from aiv.names import run_state_key
from aiv.store import open_local_store
from aiv.store.runs import RunSpend, RunState, read_run, write_run


def test_a_run_round_trips_through_its_state_document(tmp_path):
    experiments, _ = open_local_store(tmp_path / "lab")
    run = RunState(
        run_id="run-1",
        pid=7,
        host="h",
        started_at="2026-12-01T00:00:00+00:00",
        heartbeat_at="2026-12-01T00:00:20+00:00",
        status="running",
        options={"iterations": 2},
        settings={"frames": 3},
        spend=RunSpend(0.25, 100, 50),
    )
    write_run(experiments, run)
    assert experiments.get_state(run_state_key("run-1"))["spend"] == {
        "llm_usd": 0.25,
        "input_tokens": 100,
        "output_tokens": 50,
    }
    assert read_run(experiments, "run-1") == run
    assert read_run(experiments, "run-2") is None
    assert run.spend.plus({"llm_usd": 0.1, "input_tokens": 1, "output_tokens": 2}) == RunSpend(0.35, 101, 52)


def test_a_malformed_run_document_is_named(tmp_path):
    experiments, _ = open_local_store(tmp_path / "lab")
    experiments.put_state(run_state_key("run-x"), {"run_id": "run-x", "status": "running"})
    with pytest.raises(ValueError, match="run:run-x is not a run registration"):
        read_run(experiments, "run-x")
