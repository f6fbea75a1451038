"""Which sandbox folders are live, and the cleanup of those whose supervisor died (Linux).

Each sandbox folder (`<TMPDIR>/aiv-sandbox-*`, made by sandbox.py) holds a small record,
`owner.json`, beside the child's working directory: the supervising process (pid, start time and
pid namespace, so a reused pid is not mistaken for it), the per-run uid and the per-run cgroup.
The folders under TMPDIR are the registry: `remove_dead` finds those whose supervisor is gone
(killed with SIGKILL, say), kills every process left in their uid and cgroup, and removes them.
A folder without a record, or whose record cannot be judged here (another pid namespace), is
left alone: only a run's own lab cleans what it can prove is dead.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from aiv.codec.cgroup import remove_cgroup
from aiv.codec.isolation import UID_RANGE, kill_uid
from aiv.errors import AivError

log = logging.getLogger(__name__)

FOLDER_PREFIX = "aiv-sandbox-"
RECORD_NAME = "owner.json"


def record(base: Path, uid: int | None = None, cgroup: Path | None = None) -> None:
    """Write (or replace) the record of the live sandbox folder `base`, supervised by this process."""
    entry = {**_this_supervisor(), "uid": uid, "cgroup": str(cgroup) if cgroup else None}
    partial = base / (RECORD_NAME + ".new")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(entry, f)
    os.replace(partial, base / RECORD_NAME)


def remove_dead(folder: Path) -> list[Path]:
    """Kill what dead supervisors left in `folder` (their uids' processes, their cgroups), remove their folders.

    Returns the folders removed. Only folders owned by this user, holding a record of a supervisor
    that is provably gone, are touched.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(FOLDER_PREFIX):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            continue
        base = Path(entry.path)
        owner = _read_record(base)
        if owner is None or not _supervisor_is_dead(owner):
            continue
        try:
            _kill_leftovers(owner)
            remove_tree(base)
        except (AivError, OSError, subprocess.CalledProcessError) as exc:
            log.warning("could not clean up the sandbox folder %s of a dead run: %s", base, exc)
            continue
        log.warning("removed the sandbox folder %s of a dead run (supervisor pid %s)", base, owner.get("pid"))
        removed.append(base)
    return removed


def _kill_leftovers(owner: dict) -> None:
    """Kill every process left in a dead run's per-run uid and cgroup, and remove the cgroup."""
    uid, cgroup = owner.get("uid"), owner.get("cgroup")
    if isinstance(uid, int) and UID_RANGE[0] <= uid < UID_RANGE[1] and os.geteuid() == 0:
        kill_uid(uid)
    if isinstance(cgroup, str) and cgroup:
        remove_cgroup(Path(cgroup))


def remove_tree(path: Path) -> None:
    """Delete a sandbox folder however the codec left it: locked folders, or nested past recursion."""

    def unlock_and_retry(func: Callable, failed: str, _exc: object) -> None:
        for folder in (os.path.dirname(failed), failed):
            if stat.S_ISDIR(os.lstat(folder).st_mode):
                os.chmod(folder, 0o700)
        func(failed)

    try:
        shutil.rmtree(path, onerror=unlock_and_retry)
    except (RecursionError, OSError):
        subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], check=True, capture_output=True)


def _read_record(base: Path) -> dict | None:
    try:
        fd = os.open(base / RECORD_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd) as f:
        try:
            owner = json.load(f)
        except ValueError:
            return None
    return owner if isinstance(owner, dict) else None


def _supervisor_is_dead(owner: dict) -> bool:
    """True only when the recorded supervisor is provably gone from this machine's pid namespace."""
    if owner.get("boot_id") != _boot_id():
        return True  # recorded before the machine restarted: nothing of that run is alive
    pid = owner.get("pid")
    if owner.get("pid_namespace") != _pid_namespace() or not isinstance(pid, int) or pid <= 0:
        return False  # another pid namespace's run (its pids mean nothing here), or a record we cannot judge
    return _start_time(pid) != owner.get("started")  # gone, a zombie, or the pid was reused


def _this_supervisor() -> dict:
    pid = os.getpid()
    return {"pid": pid, "started": _start_time(pid), "pid_namespace": _pid_namespace(), "boot_id": _boot_id()}


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat); None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else int(fields[19])


@lru_cache(maxsize=1)
def _pid_namespace() -> int:
    return os.stat("/proc/self/ns/pid").st_ino


@lru_cache(maxsize=1)
def _boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
