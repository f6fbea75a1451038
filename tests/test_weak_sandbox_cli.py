"""Where the sandbox is weaker than its full filesystem view, `aiv run` refuses and `aiv evaluate` warns."""

from pathlib import Path

import pytest

from aiv.cli import main
from aiv.codec import isolation, sandbox

WEAK = isolation.Isolation(False, False, False, ("bwrap (user+mount+pid+net+ipc namespaces): unavailable (test)",))


@pytest.fixture
def weak_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "_isolation", lambda: WEAK)


def test_a_campaign_is_refused_on_a_weak_sandbox(weak_sandbox, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = tmp_path / "lab"
    assert main(["run", "--iterations", "0", "--proposer", "offline", "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aiv run: refusing to run a campaign: the codec sandbox runs as 'audit hook only'")
    assert "unavailable (test)" in err and "--allow-weak-sandbox" in err and "Traceback" not in err
    assert not store.exists(), "nothing may be written before the refusal"


def test_evaluate_warns_on_a_weak_sandbox(weak_sandbox, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["evaluate", "intra", "--clips", str(tmp_path / "missing.y4m")]) == 2  # stops at the clip
    err = capsys.readouterr().err
    assert "aiv evaluate: warning: the codec sandbox runs as 'audit hook only'" in err


def test_the_weak_sandbox_is_recorded_in_the_isolation_report(weak_sandbox) -> None:
    report = sandbox.isolation_report()
    assert (report["isolation"], report["full_view"], report["filesystem_jail"]) == ("audit hook only", False, False)
    assert report["weakened"] == list(WEAK.notes)
