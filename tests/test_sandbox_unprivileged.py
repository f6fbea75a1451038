"""The sandbox's key containment checks again, as an unprivileged user: the non-root path (bubblewrap).

The driver (tests/sandbox_as_nobody.py) runs as uid 65534 when the tests run as root (as in CI), with
an interpreter that user can run: this one, or the system's python of the same version with this
venv's packages. It skips, saying why, where no such interpreter exists or bwrap cannot run there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import pytest

import aiv

REPO = Path(aiv.__file__).resolve().parents[1]
DRIVER = Path(__file__).parent / "sandbox_as_nobody.py"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
CHELSEA = Path(find_spec("skimage").origin).parent / "data" / "chelsea.png"


def as_unprivileged(python: str, *args: str) -> list[str]:
    """The command that runs `python args` as uid 65534 (as the current user when that is not root)."""
    env = [
        "env",
        "-i",
        "PATH=/usr/bin:/bin",
        "HOME=/tmp",
        "LANG=C.UTF-8",
        f"PYTHONPATH={REPO}:{sysconfig.get_paths()['purelib']}",
    ]
    return [*(NOBODY if os.geteuid() == 0 else []), *env, python, *args]


def unprivileged_python() -> str:
    """An interpreter the unprivileged user can run with this lab's packages; skip when there is none."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    tried = []
    for python in dict.fromkeys((sys.executable, f"/usr/bin/{version}")):
        check = subprocess.run(
            as_unprivileged(python, "-c", "import numpy, torch, cv2, skimage, aiv.codec.sandbox"),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check.returncode == 0:
            return python
        tried.append(f"{python}: {(check.stderr.strip().splitlines() or ['exit ' + str(check.returncode)])[-1]}")
    pytest.skip("no interpreter the unprivileged user can run with the lab's packages: " + "; ".join(tried))


@pytest.fixture(scope="module")
def secrets() -> Iterator[list[str]]:
    """Files the unprivileged user can read, which the view must hide: package data, /etc, the lab, a stash."""
    folder = Path(tempfile.mkdtemp(prefix="aiv-secret-", dir="/tmp"))
    folder.chmod(0o755)
    stash = folder / "cache.bin"
    stash.write_text("the source clip!")
    stash.chmod(0o644)
    yield [str(CHELSEA), "/etc/passwd", str(REPO / "aiv" / "video" / "corpus.py"), str(stash)]
    shutil.rmtree(folder)


@pytest.fixture(scope="module")
def outcomes(secrets: list[str]) -> dict:
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is missing: cannot drop to an unprivileged user")
    python = unprivileged_python()
    run = subprocess.run(
        as_unprivileged(python, str(DRIVER), *secrets),
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        cwd="/tmp",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    checks = json.loads(run.stdout.strip().splitlines()[-1])
    if not checks["isolation"]["full_view"]:
        pytest.skip(f"bwrap cannot run unprivileged here: {checks['isolation']['weakened']}")
    return checks


def test_an_unprivileged_lab_gets_the_full_view_through_bwrap(outcomes: dict) -> None:
    assert outcomes["euid"] != 0
    assert outcomes["isolation"]["isolation"] == "bwrap"
    assert outcomes["isolation"]["kill_after_run"].startswith("every process of its pid namespace")


def test_rebuilding_a_corpus_clip_fails_unprivileged(outcomes: dict) -> None:
    rebuilt = outcomes["rebuild_corpus"]
    assert rebuilt["stage"] == "decode" and f"No such file or directory: '{CHELSEA}'" in rebuilt["reason"], rebuilt


def test_native_reads_find_nothing_unprivileged(outcomes: dict, secrets: list[str]) -> None:
    for path in secrets:
        assert outcomes[path]["stage"] == "decode", (path, outcomes[path])
        assert "No such file or directory" in outcomes[path]["reason"], (path, outcomes[path])


def test_the_audit_hook_still_refuses_unprivileged(outcomes: dict) -> None:
    assert outcomes["read_passwd"]["reason"].startswith("refused: open('/etc/passwd'"), outcomes["read_passwd"]


def test_data_embedded_up_to_the_module_limit_runs_unprivileged(outcomes: dict) -> None:
    assert outcomes["embedded_data"].get("exact") is True, outcomes["embedded_data"]
