"""What a run leaves in the campaign state: every run's id (for spend over the whole campaign), and a crash's reason."""

from __future__ import annotations

import pytest

from aiv.local import open_local_lab
from aiv.runner import CampaignRun, RunOptions


def test_a_crashed_run_records_its_reason_and_every_run_is_listed(tmp_path, monkeypatch):
    lab = open_local_lab(tmp_path / "lab")
    first = CampaignRun(lab, RunOptions(iterations=0, seeds=()), report=lambda line: None)
    first.execute()

    def crash(self, items, task):
        raise OSError("disk full")

    monkeypatch.setattr(CampaignRun, "_run_pool", crash)
    second = CampaignRun(lab, RunOptions(iterations=0, seeds=()), report=lambda line: None)
    with pytest.raises(OSError):
        second.execute()
    state = lab.experiments.get_state(f"run:{second.run_id}")
    assert state["status"] == "crashed" and state["reason"] == "OSError: disk full"
    assert lab.experiments.get_state(f"run:{first.run_id}")["reason"] is None
    assert lab.experiments.get_state("campaign")["runs"] == [second.run_id, first.run_id]
