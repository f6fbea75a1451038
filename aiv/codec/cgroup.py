"""Per-run cgroups (v2): a resident-memory limit (memory.max) and a process limit (pids.max) for one codec child.

Why: RLIMIT_AS caps address space, and CUDA reserves far more address space than it uses, so a
CUDA codec may not even initialise under it. A cgroup caps what is really resident, for every
process of the run together, and the kernel's out-of-memory killer ends the run when it is
exceeded (memory.events then counts an oom_kill, which is how the failure is named).

Available only to a root lab on a cgroup v2 hierarchy whose memory controller can be delegated
to the lab's own cgroup. When that cgroup holds other processes the controller cannot be enabled
for children (the kernel's "no internal processes" rule); if the lab is alone in it (the only
process of a container), it first moves itself into a leaf `aiv-supervisor` beside the runs.
`delegated_parent()` says where per-run cgroups go, or why there are none (RLIMIT_AS applies then).
"""

from __future__ import annotations

import errno
import os
import secrets
import signal
import time
from functools import lru_cache
from pathlib import Path

from aiv.codec.isolation import SandboxError

RUN_PREFIX = "aiv-run-"
SUPERVISOR_LEAF = "aiv-supervisor"
EMPTY_WAIT_S = 5.0


@lru_cache(maxsize=1)
def delegated_parent() -> tuple[Path | None, str]:
    """The cgroup v2 directory under which per-run cgroups are made, or None and why there is none."""
    if os.geteuid() != 0:
        return None, "the lab is not root"
    mount = _cgroup2_mount()
    if mount is None:
        return None, "no cgroup v2 hierarchy is mounted"
    own = mount / _own_cgroup().lstrip("/")
    try:
        available = (own / "cgroup.controllers").read_text().split()
    except OSError as exc:
        return None, f"the lab's cgroup {own} cannot be read ({exc.strerror})"
    if "memory" not in available:
        listed = " ".join(available) or "none"
        return None, f"the cgroup v2 memory controller is not available in {own} (controllers: {listed})"
    wanted = " ".join(f"+{name}" for name in ("memory", "pids") if name in available)
    try:
        _enable(own, wanted)
        remove_cgroup(create_run_cgroup(own, memory_mb=64, pids=16))
    except (OSError, SandboxError) as exc:
        return None, f"no per-run cgroup can be made below {own} ({getattr(exc, 'strerror', None) or exc})"
    return own, f"cgroup v2 below {own}"


def create_run_cgroup(parent: Path, memory_mb: int, pids: int) -> Path:
    """A fresh cgroup for one run: memory.max = memory_mb (no swap), the whole group killed on OOM, pids.max."""
    path = parent / f"{RUN_PREFIX}{secrets.token_hex(8)}"
    try:
        path.mkdir(mode=0o755)
        (path / "memory.max").write_text(str(memory_mb << 20))
        (path / "memory.oom.group").write_text("1")
        if (path / "memory.swap.max").exists():
            (path / "memory.swap.max").write_text("0")
        if (path / "pids.max").exists():
            (path / "pids.max").write_text(str(pids))
    except OSError as exc:
        if path.exists():
            remove_cgroup(path)
        raise SandboxError(f"cannot set up the per-run cgroup {path}: {exc.strerror or exc}") from exc
    return path


def oom_killed(path: Path) -> bool:
    """Whether the kernel killed a process of this cgroup for going over memory.max."""
    try:
        events = dict(line.split() for line in (path / "memory.events").read_text().splitlines() if line.strip())
    except (OSError, ValueError):
        return False
    return int(events.get("oom_kill", 0)) > 0 or int(events.get("oom_group_kill", 0)) > 0


def remove_cgroup(path: Path) -> None:
    """Kill every process in a per-run cgroup and remove it; nothing if it is already gone."""
    if not path.name.startswith(RUN_PREFIX) or _cgroup2_mount() is None or not path.is_relative_to(_cgroup2_mount()):
        raise SandboxError(f"not a per-run cgroup of this lab: {path}")
    if not path.is_dir():
        return
    deadline = time.monotonic() + EMPTY_WAIT_S
    while _pids_in(path):
        if (path / "cgroup.kill").exists():
            (path / "cgroup.kill").write_text("1")
        else:  # before Linux 5.14
            for pid in _pids_in(path):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if time.monotonic() > deadline:
            raise SandboxError(f"processes of the per-run cgroup {path} survived SIGKILL: {_pids_in(path)}")
        time.sleep(0.02)
    for _ in range(250):  # the last exits are accounted a moment after the processes are gone
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise SandboxError(f"cannot remove the per-run cgroup {path}: {exc.strerror}") from exc
            time.sleep(0.02)
    raise SandboxError(f"the per-run cgroup {path} stayed busy")


def _enable(own: Path, wanted: str) -> None:
    """Enable `wanted` controllers for own's children, moving this process into a leaf if it is alone there."""
    if set(wanted.replace("+", "").split()) <= set((own / "cgroup.subtree_control").read_text().split()):
        return
    try:
        (own / "cgroup.subtree_control").write_text(wanted)
        return
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
        others = [pid for pid in _pids_in(own) if pid != os.getpid()]
        if others:
            raise OSError(
                errno.EBUSY, f"{len(others)} other processes live in it, so its controllers cannot be delegated"
            ) from None
    leaf = own / SUPERVISOR_LEAF
    leaf.mkdir(exist_ok=True)
    (leaf / "cgroup.procs").write_text(str(os.getpid()))
    (own / "cgroup.subtree_control").write_text(wanted)


def _pids_in(path: Path) -> list[int]:
    try:
        return [int(pid) for pid in (path / "cgroup.procs").read_text().split()]
    except FileNotFoundError:
        return []


@lru_cache(maxsize=1)
def _cgroup2_mount() -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid systems)."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        before, _, after = line.partition(" - ")
        if after.split()[:1] == ["cgroup2"]:
            return Path(before.split()[4])
    return None


def _own_cgroup() -> str:
    """This process's cgroup v2 path (the "0::" line of /proc/self/cgroup)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:]
    return "/"
