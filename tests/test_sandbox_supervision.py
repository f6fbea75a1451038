"""Supervision with real processes: a codec dies with its supervisor, the next run cleans up, memory limits.

A supervisor is a separate Python process running one slow sandboxed encode; the test kills its
process group with SIGKILL, as `kill -9` of a run would, and checks that no process of the run
survives and that the next sandbox call removes the folder the dead run left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from aiv.codec import isolation as iso
from aiv.codec import sandbox
from aiv.codec import sandbox_registry as registry
from aiv.codec.sandbox import Limits, run_encode
from aiv.errors import CodecFailure

REPO = Path(__file__).resolve().parents[1]
ADVERSARIAL = Path(__file__).parent / "adversarial"
BOUND_S = 30.0  # how long a killed run's processes may take to disappear (they take milliseconds)
SUPERVISOR = """
import sys
import numpy as np
from aiv.codec import isolation, sandbox
if sys.argv[1] == "audit hook only":
    sandbox._isolation = lambda: isolation.Isolation(False, False, False)
planes = np.zeros((1, 16, 16), np.uint8), np.zeros((1, 8, 8), np.uint8), np.zeros((1, 8, 8), np.uint8)
sandbox.run_encode(open(sys.argv[2]).read(), *planes, 25.0, 0.5, sandbox.Limits(timeout_s=600))
"""


@pytest.fixture
def temp_folder(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TMPDIR of this test's sandboxes (and of its supervisor's), checked to be empty at the end."""
    tmp_path_factory.getbasetemp()  # pytest's own folder first, before tempfile is redirected
    folder = Path(tempfile.mkdtemp(prefix="aiv-test-supervision-"))
    folder.chmod(0o711)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    assert list(folder.iterdir()) == [], "a sandbox folder outlived the test"
    folder.rmdir()


def planes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros((1, 16, 16), np.uint8), np.zeros((1, 8, 8), np.uint8), np.zeros((1, 8, 8), np.uint8)


def hostile(name: str) -> str:
    source = (ADVERSARIAL / f"{name}.py").read_text()
    return source + (ADVERSARIAL / "packing.txt").read_text() if "_pack(" in source else source


def alive(pid: int) -> bool:
    """Whether pid is a live (not zombie) process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_for(condition, what: str, bound_s: float = BOUND_S):
    deadline = time.monotonic() + bound_s
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not within {bound_s:g} s: {what}"
        time.sleep(0.05)
    return value


def started_codec(folder: Path) -> tuple[Path, int, dict] | None:
    """(sandbox folder, codec pid, its record) once the slow codec has written its pid."""
    for base in folder.glob(registry.FOLDER_PREFIX + "*"):
        pid_file = base / "work" / "pid.txt"
        record = base / registry.RECORD_NAME
        if pid_file.is_file() and pid_file.read_text() and record.is_file():
            return base, int(pid_file.read_text()), json.loads(record.read_text())
    return None


@pytest.mark.parametrize("isolation", ["strongest", "audit hook only"])
def test_a_codec_dies_with_its_killed_supervisor_and_the_next_run_cleans_up(
    isolation: str, temp_folder: Path, tmp_path: Path
) -> None:
    codec_file = tmp_path / "sleeper.py"
    codec_file.write_text(hostile("sleeper"))
    env = {**os.environ, "TMPDIR": str(temp_folder), "PYTHONPATH": str(REPO)}
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, isolation, str(codec_file)],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    straggler, codec_pid = None, 0
    try:
        base, codec_pid, record = wait_for(
            lambda: started_codec(temp_folder) or supervisor.poll() is not None, "the slow codec started", bound_s=120
        ) or (None, 0, {})
        assert supervisor.poll() is None, supervisor.stderr.read().decode()
        assert record["pid"] == supervisor.pid
        uid = record["uid"]
        if uid is not None:  # a process of the run's uid that the codec could have left (a native fork)
            straggler = subprocess.Popen(["sleep", "300"], user=uid, group=uid, extra_groups=[], start_new_session=True)
        os.killpg(supervisor.pid, signal.SIGKILL)  # kill -9 of the run's process group
        supervisor.wait(timeout=BOUND_S)
        wait_for(lambda: not alive(codec_pid), "the codec died with its supervisor")
        assert base.is_dir(), "nothing has cleaned up yet"

        encoded = run_encode(hostile("well_behaved"), *planes(), 25.0, 0.5)  # the next run's sandbox call
        assert encoded.bitstream
        assert not base.exists(), "the dead run's sandbox folder was left behind"
        if uid is not None:
            assert iso._processes_of(uid) == [], f"a process of the dead run's uid {uid} survived"
            straggler.wait(timeout=BOUND_S)
    finally:  # when the test fails, what it started must not outlive it either
        for process in (supervisor, straggler):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        if codec_pid and alive(codec_pid):
            os.kill(codec_pid, signal.SIGKILL)


def test_only_folders_of_dead_supervisors_are_removed(temp_folder: Path) -> None:
    live, dead, unrecorded = (Path(tempfile.mkdtemp(prefix=registry.FOLDER_PREFIX)) for _ in range(3))
    registry.record(live)
    registry.record(dead)
    entry = json.loads((dead / registry.RECORD_NAME).read_text())
    (dead / registry.RECORD_NAME).write_text(json.dumps({**entry, "started": entry["started"] + 1}))  # pid reused
    assert registry.remove_dead(temp_folder) == [dead]
    assert live.is_dir() and unrecorded.is_dir() and not dead.exists()
    for folder in (live, unrecorded):
        registry.remove_tree(folder)


def test_work_directories_are_removed_however_deep(tmp_path: Path) -> None:
    top = tmp_path / "work"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    for _ in range(1100):  # deeper than a recursive delete can go
        os.mkdir("d", dir_fd=fd)
        fd, parent = os.open("d", os.O_RDONLY, dir_fd=fd), fd
        os.close(parent)
    os.close(fd)
    registry.remove_tree(top)
    assert not top.exists()


@pytest.mark.parametrize("mode", ["RLIMIT_AS", "cgroup memory.max"])
def test_a_codec_over_the_memory_limit_fails_with_a_memory_limit_reason(
    mode: str, temp_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent, why = sandbox.delegated_parent()
    if mode == "RLIMIT_AS":
        monkeypatch.setattr(sandbox, "delegated_parent", lambda: (None, "switched off by the test"))
    elif parent is None:
        pytest.skip(f"no per-run cgroup on this machine: {why}")
    report = sandbox.isolation_report()
    assert report["memory_limit"].startswith("RLIMIT_AS" if mode == "RLIMIT_AS" else "cgroup v2 memory.max")
    assert ("RLIMIT_AS" in report["rlimits"]) == (mode == "RLIMIT_AS")
    with pytest.raises(CodecFailure) as failure:
        run_encode(hostile("resident_hog"), *planes(), 25.0, 0.5, Limits(timeout_s=120, memory_mb=1024))
    assert failure.value.stage == "encode"
    reason = failure.value.reason
    assert reason.startswith("out of memory in encode (the memory limit is 1024 MB of "), reason
    assert ("RLIMIT_AS" in failure.value.reason) == (mode == "RLIMIT_AS")
