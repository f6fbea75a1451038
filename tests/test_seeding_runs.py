"""Seeds with real `aiv run` processes: killed during a seed, a run joining during seeding, seeds that all fail.

Each run is a real `python -m aiv.cli run` on two tiny y4m clips, so seeds are evaluated in the real
sandbox; the test watches the SQLite store to act while a seed is being evaluated.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aiv.codec.builtin import BUILTIN_CODECS
from aiv.codec.contract import builtin_source
from aiv.store import open_local_store
from aiv.store.sqlite import SqliteExperimentStore
from aiv.video.corpus import builtin_clip
from aiv.video.corpus_secret import store_secret
from aiv.video.y4m import write_y4m

from clip_helpers import TEST_SECRET, crop_clip

ROOT = Path(__file__).resolve().parents[1]
WAIT_S = 240


@pytest.fixture
def clips(tmp_path):
    paths = []
    for name in ("moving_object", "pan_zoom"):
        path = tmp_path / f"{name}.y4m"
        write_y4m(path, crop_clip(builtin_clip(name, frames=4, secret=TEST_SECRET), 64, 48, 4, name=name))
        paths.append(str(path))
    return paths


@pytest.fixture
def store(tmp_path) -> Path:
    """A new store that holds a corpus secret drawn as the tests draw them (conftest.fixed_corpus_secrets), so
    the runs' smoke clip is the same every time."""
    path = tmp_path / "lab"
    experiments, _ = open_local_store(path)
    store_secret(experiments)
    experiments.close()
    return path


@pytest.fixture(scope="module")
def environment(tmp_path_factory):
    cache = tmp_path_factory.mktemp("anchors")
    return os.environ | {"PYTHONPATH": str(ROOT), "AIV_CACHE": str(cache)}


def run_command(store: Path, clips: list[str], *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "aiv.cli",
        "run",
        "--store",
        str(store),
        "--clips",
        clips[0],
        "--validation-clips",
        clips[1],
        "--frames",
        "3",
        "--qualities",
        "0.3,0.7",
        *extra,
    ]


def start(command: list[str], environment: dict) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        env=environment,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def seeds(store: Path) -> dict[str, list[dict]]:
    """Each built-in codec's experiments, oldest first."""
    experiments = SqliteExperimentStore(store / "lab.sqlite")
    try:
        return {name: experiments.find_by_code(builtin_source(name).sha256) for name in BUILTIN_CODECS}
    finally:
        experiments.close()


def wait_for_a_seed_evaluating(store: Path, process: subprocess.Popen) -> dict:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if (store / "lab.sqlite").exists():
            evaluating = [e for tries in seeds(store).values() for e in tries if e.status == "evaluating"]
            if evaluating:
                return evaluating[0]
        time.sleep(0.05)
    raise AssertionError("no seed reached its evaluation")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()  # reaped: a zombie would still answer kill(pid, 0)


def test_a_seed_killed_with_its_run_is_evaluated_again_by_the_next_run(store, clips, environment):
    first = start(run_command(store, clips, "--iterations", "0"), environment)
    try:
        killed = wait_for_a_seed_evaluating(store, first)
    finally:
        stop(first)
    second = subprocess.run(
        run_command(store, clips, "--iterations", "0"),
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT_S * 2,
    )
    assert second.returncode == 0, second.stderr
    assert f"closed 1 experiment(s) left running by an earlier run: {killed.id}" in second.stderr
    name = next(n for n, tries in seeds(store).items() if killed.id in [e.id for e in tries])
    tries = seeds(store)[name]
    assert [e.status for e in tries] == ["failed", "succeeded"]
    assert "interrupted" in tries[0].failure["reason"]
    assert tries[1].benchmark == tries[0].benchmark and tries[1].code_sha256 == tries[0].code_sha256
    assert all(any(e.status == "succeeded" for e in tries) for tries in seeds(store).values())


def test_a_run_joining_during_seeding_waits_for_the_seeds_then_proposes(store, clips, environment):
    first = start(run_command(store, clips, "--iterations", "0"), environment)
    try:
        wait_for_a_seed_evaluating(store, first)
        second = subprocess.run(
            run_command(store, clips, "--iterations", "1"),
            env=environment,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=WAIT_S * 2,
        )
        out, err = first.communicate(timeout=WAIT_S)
    finally:
        stop(first)
    assert first.returncode == 0, err
    assert second.returncode == 0, second.stderr
    assert "waiting for seed" in second.stderr
    assert "[1/1] exp-" in second.stderr
    for tries in seeds(store).values():  # one evaluation of each seed, by whichever run got there first
        assert [e.status for e in tries] == ["succeeded"]


def test_seeds_that_all_fail_end_the_run_with_exit_2_and_the_command_that_recovers(store, clips, environment):
    failed = subprocess.run(
        run_command(store, clips, "--iterations", "1", "--timeout", "0.001"),
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert failed.returncode == 2, failed.stderr
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("aiv run: no seed succeeded on benchmark bm-") and "Traceback" not in failed.stderr
    for name in BUILTIN_CODECS:
        assert f"{name}: smoke: " in last and "timeout:" in last
    recovery = shlex.split(last.split("with: ", 1)[1])
    assert recovery[:2] == ["aiv", "run"] and recovery[recovery.index("--timeout") + 1] == "300"
    recovered = subprocess.run(
        [sys.executable, "-m", "aiv.cli", *recovery[1:], "--iterations", "0"],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT_S * 2,
    )
    assert recovered.returncode == 0, recovered.stderr
    for tries in seeds(store).values():
        assert [e.status for e in tries] == ["rejected", "succeeded"]
