"""Facts that make a result reproducible: the lab's commit and the versions of what measured it."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import av
import numpy as np

import aiv

LAB_ROOT = Path(aiv.__file__).resolve().parent.parent


def lab_commit() -> dict:
    """The lab's git commit and whether the work tree had changes; AIV_LAB_COMMIT where no git tree exists.

    `commit` is None when neither is known: the record says so rather than inventing one.
    """
    try:
        commit = subprocess.run(
            ["git", "-C", str(LAB_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(LAB_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        commit = os.environ.get("AIV_LAB_COMMIT") or None
        return {"commit": commit, "dirty": None}


def tool_versions() -> dict:
    """Versions of the software whose behaviour decides the numbers."""
    return {
        "aiv": aiv.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": _installed("torch"),
        "pyav": av.__version__,
        "ffmpeg": av.library_versions.get("libavcodec"),
    }


def _installed(distribution: str) -> str | None:
    """The installed version of a distribution (its local tag too, e.g. "2.13.0+cpu"), None when absent."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
