"""What contains a codec child at the level of the operating system (Linux), and how it is entered.

This module probes which kernel protections work on this machine (`strongest`), puts the forked
child into them before it execs (`enter_sandbox`), hands out per-run uids and kills every process
of one afterwards (`claim_uid`, `kill_uid`), builds the root jail from the codec view (view.py)
or puts bwrap in front of the child's command (`launcher`). The parent (sandbox.py) supervises
the child; the audit hook lives in sandbox_child.py.

Protections, strongest first. `sandbox.isolation_report()` says which are active on this machine
("isolation": "root jail", "bwrap" or "audit hook only"); the first run probes them in that order
and records why any stronger level was unavailable.

Enforced by the kernel, as root (as on Batch) -- the root jail:
  * a fresh unprivileged uid/gid per child, no supplementary groups: the parent's memory and
    /proc/<ppid>/{mem,environ} are out of reach, and afterwards every process of that uid is
    killed (kill(-1) as that uid, then a /proc sweep), so nothing a codec starts outlives its call;
  * where cgroup v2 delegates its memory controller (cgroup.py), a per-run cgroup: memory.max
    caps the resident memory of the whole run (RLIMIT_AS is then not set, since CUDA reserves
    huge address ranges) and pids.max its processes;
  * a private mount namespace with a new read-only root, entered by chroot, holding only the codec
    view (view.py: the interpreter, the stdlib, numpy/torch/cv2 and what they require, the shared
    libraries they load, /etc/ld.so.cache), /sys, a few /dev nodes (plus /dev/nvidia*), a new /proc
    with hidepid (other users' processes invisible) and the working directory (read-write,
    noexec); nothing else -- no other package, not /tmp, /dev/shm, /work, the clips, caches or /root;
  * private network and IPC namespaces: no interface but a down loopback, no shared SysV IPC;
  * PR_SET_NO_NEW_PRIVS, and nosuid/nodev on every mount.
Enforced by the kernel, not root -- bwrap (Debian's bubblewrap, unprivileged user namespaces):
  * the same view (view.bwrap_arguments), new user, mount, pid, network, IPC, UTS and cgroup
    namespaces, no capabilities, a new session, and death with the parent; the child runs as the
    lab's uid, and everything it starts dies with its pid namespace.
Always:
  * resource limits: RLIMIT_AS, RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_CORE=0 and,
    with a per-run uid, RLIMIT_NPROC; a wall-clock timeout that SIGKILLs the process group;
    the working directory's total size is polled and capped at `Limits.file_mb`;
  * a new session, stdin from /dev/null, no inherited file descriptors but the status pipe;
  * PR_SET_PDEATHSIG(SIGKILL), set after the uid change (which clears it): the child dies with
    its supervisor. What a killed supervisor leaves otherwise (its uid's other processes, its
    cgroup, its folder) the next run removes (sandbox_registry.py);
  * an explicit environment (PATH, HOME and TMPDIR = the working directory, C.UTF-8,
    PYTHONHASHSEED=0, thread counts, CUDA_VISIBLE_DEVICES): no credentials are inherited;
  * `python -S -s -P -B`: no site hooks, no user site, no script directory on sys.path;
  * in the child, before the codec is imported: PR_SET_DUMPABLE 0, stubs for the primitives
    that raise no audit event (_posixsubprocess.fork_exec, shm_open, mknod, pidfd_send_signal),
    and an audit hook (sandbox_child.py) that ends the run on sockets, processes, signals, ctypes
    calls, gc walking, native code loaded from outside the Python installation, reads outside
    the working directory and the Python installation, and writes outside the working directory.
Best effort only:
  * the audit hook guards the Python level. Native code is outside its reach: OpenCV and torch
    read files in C++ (cv2.imread, torch.from_file), and numpy's __array_interface__, as_strided
    or hand-built bytecode (code.replace) can read and write arbitrary process memory. With the
    root jail or bwrap such reads find only the view; without either ("audit hook only", the weak
    fallback that `aiv run` refuses unless told otherwise) the hook is the only file and network
    barrier, and a codec that reads natively or corrupts memory gets past it;
  * without a per-run uid, only the process group (under bwrap: the pid namespace) is killed afterwards;
  * without a per-run cgroup, memory is capped per process (RLIMIT_AS), not per run; CUDA
    reserves large address ranges, so a GPU codec may need a larger `memory_mb` there.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import resource
import secrets
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from aiv.codec.view import (
    View,
    ViewError,
    bwrap_arguments,
    codec_view,
    outermost,
    package_paths,
    stdlib_dirs,
)
from aiv.errors import AivError

log = logging.getLogger(__name__)

OPEN_FILES = 256
UID_RANGE = (1_600_000_000, 1_700_000_000)  # per-run uids; no account on any sane system uses them
PYTHON_FLAGS = ("-S", "-s", "-P", "-B")
READ_FILES = (
    "/dev/null",
    "/dev/zero",
    "/dev/random",
    "/dev/urandom",
    "/proc/self/maps",
    "/proc/self/status",
    "/proc/cpuinfo",
    "/proc/meminfo",
)

# Linux constants (sched.h, mount.h, prctl.h).
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x08000000, 0x10000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 2, 38


ROOT_JAIL, BWRAP, AUDIT_HOOK_ONLY = "root jail", "bwrap", "audit hook only"
BWRAP_BINARY = "bwrap"


class SandboxError(AivError):
    """The sandbox itself could not run a child (setup failed, a protection broke): not the codec's fault."""


@dataclass(frozen=True)
class Isolation:
    """Which kernel-level protections a child gets; `notes` says why stronger ones were not available.

    `jail` is the root jail (mount namespace + chroot, entered here), `bwrap` the same view built by
    bubblewrap in an unprivileged user namespace; either gives the full filesystem view (view.py).
    """

    uid_drop: bool
    jail: bool
    namespaces: bool
    notes: tuple[str, ...] = ()
    bwrap: bool = False

    @property
    def kind(self) -> str:
        """ "root jail", "bwrap", or "audit hook only" (the weak fallback: the whole filesystem is in view)."""
        return ROOT_JAIL if self.jail else BWRAP if self.bwrap else AUDIT_HOOK_ONLY

    @property
    def full_view(self) -> bool:
        """Whether the child sees only what a codec may use (view.py), not the lab's whole filesystem."""
        return self.jail or self.bwrap

    def describe(self) -> str:
        if self.bwrap:
            return "bwrap (user+mount+pid+net+ipc namespaces)"
        parts = [
            ("per-run uid" if self.uid_drop else "same uid"),
            ("mount jail" if self.jail else "no jail"),
            ("net+ipc namespaces" if self.namespaces else "shared network"),
        ]
        return ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# Probing


def strongest(probe: Callable[[Isolation], None]) -> Isolation:
    """The strongest isolation a trivial child actually starts under, with why stronger ones failed.

    `probe` runs a trivial child under the isolation it is given and raises SandboxError if it cannot.
    """
    with_bwrap = Isolation(False, False, True, bwrap=True)
    if os.geteuid() == 0:
        candidates = [
            Isolation(True, True, True),
            with_bwrap,
            Isolation(True, False, True),
            Isolation(True, False, False),
            Isolation(False, False, True),
            Isolation(False, False, False),
        ]
    else:
        candidates = [with_bwrap, Isolation(False, False, True), Isolation(False, False, False)]
    notes: list[str] = []
    for candidate in candidates:
        try:
            probe(candidate)
        except SandboxError as exc:
            notes.append(f"{candidate.describe()}: unavailable ({exc})")
            continue
        if os.geteuid() != 0:
            notes.append(
                "the lab is not root: no per-run uid"
                + (
                    " (bwrap's user and pid namespaces separate the child instead)"
                    if candidate.bwrap
                    else " and no filesystem view of its own"
                )
            )
        if notes:
            log.warning("codec sandbox weakened to %s: %s", candidate.describe(), "; ".join(notes))
        return Isolation(candidate.uid_drop, candidate.jail, candidate.namespaces, tuple(notes), candidate.bwrap)
    raise SandboxError("no sandbox configuration works on this machine: " + "; ".join(notes))


# ---------------------------------------------------------------------------------------------
# Entering the sandbox (runs in the forked child, before exec)


def enter_sandbox(
    iso: Isolation,
    uid: int | None,
    work: Path,
    status_w: int,
    *,
    memory_mb: int | None,
    cpu_s: int,
    file_mb: int,
    nproc: int | None,
    cgroup: Path | None = None,
) -> Callable[[], None]:
    """The preexec function that gives the child `iso` (namespaces, jail), its rlimits and `uid`.

    The child first joins `cgroup` (a per-run cgroup, when there is one) and finally arranges to be
    killed when its supervisor dies. `memory_mb` None: no RLIMIT_AS (the cgroup limits memory).
    A failure is written as a JSON reason to `status_w` before it propagates.
    """
    view = _view() if iso.jail else None
    libc = _libc()
    supervisor = os.getpid()

    def enter() -> None:
        try:
            if cgroup is not None:
                (cgroup / "cgroup.procs").write_text(str(os.getpid()))
            if (iso.namespaces or iso.jail) and not iso.bwrap:  # bwrap makes its namespaces itself
                flags = CLONE_NEWNET | CLONE_NEWIPC | (CLONE_NEWNS if iso.jail else 0)
                _check(libc.unshare(flags if os.geteuid() == 0 else flags | CLONE_NEWUSER), "unshare")
            if view is not None:
                _build_jail(libc, view, str(work))
            _set_limits(memory_mb, cpu_s, file_mb, nproc)
            _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
            if uid is not None:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
            _die_with_supervisor(libc, supervisor)
        except BaseException as exc:
            os.write(status_w, (json.dumps({"reason": f"sandbox setup: {type(exc).__name__}: {exc}"}) + "\n").encode())
            raise

    return enter


def _die_with_supervisor(libc: ctypes.CDLL, supervisor: int) -> None:
    """SIGKILL this process when the thread that started it exits; fail if that already happened.

    Set last: the kernel clears the parent-death signal when the effective uid or gid changes.
    It fires when the supervising *thread* ends, so that thread must wait for the child (it does).
    """
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    armed = ctypes.c_int(0)
    _check(libc.prctl(PR_GET_PDEATHSIG, ctypes.addressof(armed), 0, 0, 0), "prctl(PR_GET_PDEATHSIG)")
    if armed.value != signal.SIGKILL:
        raise OSError(f"the parent-death signal did not hold (it reads {armed.value})")
    if os.getppid() != supervisor:
        raise OSError(f"the supervisor (pid {supervisor}) exited before the codec started")


def _set_limits(memory_mb: int | None, cpu_s: int, file_mb: int, nproc: int | None) -> None:
    """Lower this process's resource limits (never above a hard limit it already has); RLIMIT_AS unless memory_mb is None."""
    wanted = {
        resource.RLIMIT_CPU: cpu_s,
        resource.RLIMIT_FSIZE: file_mb << 20,
        resource.RLIMIT_NOFILE: OPEN_FILES,
        resource.RLIMIT_CORE: 0,
    }
    if memory_mb is not None:
        wanted[resource.RLIMIT_AS] = memory_mb << 20
    if nproc is not None:
        wanted[resource.RLIMIT_NPROC] = nproc
    for which, value in wanted.items():
        _, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        hard_value = value + 5 if which == resource.RLIMIT_CPU and hard == resource.RLIM_INFINITY else value
        resource.setrlimit(which, (value, hard_value))


def launcher(iso: Isolation, work: Path) -> list[str]:
    """What the child's command line starts with: bwrap and its options under `iso.bwrap`, else nothing."""
    if not iso.bwrap:
        return []
    binary = shutil.which(BWRAP_BINARY)
    if binary is None:
        raise SandboxError("bubblewrap (bwrap) is not installed (Debian: apt-get install bubblewrap)")
    return [binary, *bwrap_arguments(_view(), str(work)), "--"]


def exit_status(iso: Isolation, returncode: int) -> int:
    """The child's exit status as subprocess reports it: bwrap passes a child's death by signal N as 128 + N."""
    if iso.bwrap and returncode > 128:
        return -(returncode - 128)
    return returncode


def _build_jail(libc: ctypes.CDLL, view: View, work: str) -> None:
    """Make a private read-only root holding only the codec view (view.py) and `work`, and chroot into it."""
    root = str(Path(work).parent / "root")

    def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        encode = lambda s: None if s is None else s.encode()
        _check(libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)), f"mount {target}")

    def bind(source: str, flags: int) -> None:
        target = root + source
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "a").close()
        mount(source, target, None, MS_BIND | MS_REC)
        mount(None, target, None, MS_REMOUNT | MS_BIND | flags)

    read_only = MS_RDONLY | MS_NOSUID | MS_NODEV
    umask = os.umask(0o022)  # the skeleton's directories must be traversable by the child's uid
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    for source in view.read_only:
        bind(source, read_only)
    for folder in view.hidden:  # an empty folder over what the view leaves out inside a bound one
        mount("tmpfs", root + folder, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
    for source in view.in_hidden:
        bind(source, read_only)
    for folder in view.hidden:
        mount(None, root + folder, None, MS_REMOUNT | read_only)
    for link, target in view.symlinks:
        os.makedirs(os.path.dirname(root + link), exist_ok=True)
        os.symlink(target, root + link)
    os.makedirs(root + "/dev")
    mount("tmpfs", root + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")
    for device in view.devices:
        bind(device, MS_NOSUID | MS_NOEXEC)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, f"{root}/dev/{name}")
    mount(None, root + "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
    os.makedirs(root + "/proc")
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, _proc_options())
    bind("/sys", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    bind(work, MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.umask(umask)
    os.chroot(root)
    os.chdir(work)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


# ---------------------------------------------------------------------------------------------
# Per-run uids


_UIDS_IN_USE: set[int] = set()
_UIDS_LOCK = threading.Lock()


def claim_uid() -> int:
    """A uid from UID_RANGE that no process and no other run of this lab is using."""
    with _UIDS_LOCK:
        while True:
            uid = UID_RANGE[0] + secrets.randbelow(UID_RANGE[1] - UID_RANGE[0])
            if uid not in _UIDS_IN_USE and not _processes_of(uid):
                _UIDS_IN_USE.add(uid)
                return uid


def release_uid(uid: int | None) -> None:
    """Give a claimed uid back (None: nothing was claimed)."""
    with _UIDS_LOCK:
        _UIDS_IN_USE.discard(uid)


def kill_uid(uid: int) -> None:
    """Kill every process running as `uid`: kill(-1) from a helper that has become that uid."""
    for _ in range(50):
        if not _processes_of(uid):
            return
        pid = os.fork()
        if pid == 0:  # the helper: become uid (and nothing else), then signal all its processes at once
            try:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                if uid != 0 and os.getresuid() == (uid, uid, uid):
                    os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.02)
    raise SandboxError(f"processes of sandbox uid {uid} survived SIGKILL: {_processes_of(uid)}")


def _processes_of(uid: int) -> list[int]:
    """Live (non-zombie) processes whose real, effective or saved uid is `uid`."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            lines = Path(entry.path, "status").read_text().splitlines()
            fields = dict(line.split(":", 1) for line in lines if ":" in line)
        except (OSError, ValueError):
            continue
        if str(uid) in fields.get("Uid", "").split()[:3] and not fields.get("State", "").strip().startswith("Z"):
            found.append(int(entry.name))
    return found


# ---------------------------------------------------------------------------------------------
# Machine facts (computed once)


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    libc.unshare.argtypes = [ctypes.c_int]
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return libc


@lru_cache(maxsize=1)
def interpreter() -> str:
    """The real path of the Python interpreter the child runs."""
    return os.path.realpath(sys.executable)


def site_dirs() -> tuple[str, ...]:
    """The site-packages directories that hold numpy, torch, cv2 and what they require (the child's sys.path)."""
    return tuple(sorted({os.path.dirname(p) for p in package_paths()}))


@lru_cache(maxsize=1)
def install_prefixes() -> tuple[str, ...]:
    """Directories the child may import from and load native libraries from: the stdlib and site dirs."""
    return outermost([*stdlib_dirs(), *site_dirs()])


def _view() -> View:
    """The codec view (view.py), or SandboxError saying why it cannot be built here."""
    try:
        return codec_view()
    except ViewError as exc:
        raise SandboxError(f"the codec's filesystem view cannot be built: {exc}") from exc


def _proc_options() -> str | None:
    """Since Linux 5.8 every proc mount has its own options; before, hidepid would change the host's /proc."""
    release = tuple(int(x) for x in os.uname().release.split(".")[:2] if x.isdigit())
    return "hidepid=invisible" if release >= (5, 8) else None
