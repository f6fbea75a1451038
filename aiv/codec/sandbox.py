"""Run an untrusted candidate's encode or decode in a sandboxed child process (Linux).

Every call starts one fresh child: the encoder and the decoder never share a process, a working
directory or a uid. The parent creates a temporary directory per child holding only what that
stage may see (encode: codec.py and y/u/v.npy; decode: codec.py and bitstream.bin), removes it
afterwards, and reads the outputs itself (regular files only, no symlinks, bounded size).

Protections, strongest first. `isolation_report()` says which are active on this machine; the
first run probes them in that order and records why any stronger level was unavailable.

Enforced by the kernel (when the lab runs as root, as on Batch):
  * a fresh unprivileged uid/gid per child, no supplementary groups: the parent's memory and
    /proc/<ppid>/{mem,environ} are out of reach, and afterwards every process of that uid is
    killed (kill(-1) as that uid, then a /proc sweep), so nothing a codec starts outlives its call;
  * a private mount namespace with a new read-only root, entered by chroot: /usr, /etc, /lib*,
    the Python installation and its site-packages, /sys, a few /dev nodes (plus /dev/nvidia*),
    a new /proc with hidepid (other users' processes invisible) and the working directory
    (read-write, noexec); nothing else -- not /tmp, /dev/shm, /work, the clips or /root;
  * private network and IPC namespaces: no interface but a down loopback, no shared SysV IPC;
  * PR_SET_NO_NEW_PRIVS, and nosuid/nodev on every mount.
Always:
  * resource limits: RLIMIT_AS, RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_CORE=0 and,
    with a per-run uid, RLIMIT_NPROC; a wall-clock timeout that SIGKILLs the process group;
    the working directory's total size is polled and capped at `Limits.file_mb`;
  * a new session, stdin from /dev/null, no inherited file descriptors but the status pipe;
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
    or hand-built bytecode (code.replace) can read and write arbitrary process memory. Without the
    uid and the mount namespace (a non-root lab), the hook is the only file and network barrier,
    and an adversarial codec that corrupts memory could get past it;
  * without a per-run uid, only the process group is killed afterwards;
  * memory is capped per process (RLIMIT_AS), not per run; CUDA reserves large address ranges,
    so a GPU codec may need a larger `memory_mb`.

Codec time is measured here, not reported by the child: the clock starts when the child writes
its ready byte (interpreter up, numpy imported, inputs loaded) and stops when it exits, so the
codec's import-time work, its call and the writing of its output all count.
"""

from __future__ import annotations

import ctypes
import io
import json
import logging
import math
import os
import resource
import secrets
import select
import shutil
import signal
import site
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from aiv.codec import sandbox_child as child
from aiv.errors import AivError, ClipError, CodecFailure

log = logging.getLogger(__name__)

SETUP_TIMEOUT_S = 60.0  # interpreter start, numpy import and input loading, before the codec runs
OPEN_FILES = 256
OUTPUT_FACTOR = 8  # a bitstream may be at most this many times the raw input
UID_RANGE = (1_600_000_000, 1_700_000_000)  # per-run uids; no account on any sane system uses them
POLL_S = 0.2
TAIL_BYTES = 8192
_PYTHON_FLAGS = ("-S", "-s", "-P", "-B")
_READ_FILES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom", "/proc/self/maps",
               "/proc/self/status", "/proc/cpuinfo", "/proc/meminfo")
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")

# Linux constants (sched.h, mount.h, prctl.h).
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x08000000, 0x10000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
PR_SET_NO_NEW_PRIVS = 38


@dataclass(frozen=True)
class Limits:
    """Resource limits for one encode or decode."""

    timeout_s: float = 600.0  # wall clock per encode or decode
    memory_mb: int = 4096  # address space (RLIMIT_AS) of the codec process
    file_mb: int = 2048  # largest file it may write (RLIMIT_FSIZE), and its working directory's total
    cpu_s: float | None = None  # RLIMIT_CPU; None = timeout x cores + 10 s


@dataclass(frozen=True)
class EncodeOutput:
    bitstream: bytes
    seconds: float  # codec time, measured by the parent from the child's ready byte to its exit


@dataclass(frozen=True)
class DecodeOutput:
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    seconds: float  # codec time, measured by the parent from the child's ready byte to its exit


class SandboxError(AivError):
    """The sandbox itself could not run a child (setup failed, a protection broke): not the codec's fault."""


@dataclass(frozen=True)
class _Isolation:
    """Which kernel-level protections a child gets; `notes` says why stronger ones were not available."""

    uid_drop: bool
    jail: bool
    namespaces: bool
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [("per-run uid" if self.uid_drop else "same uid"), ("mount jail" if self.jail else "no jail"),
                 ("net+ipc namespaces" if self.namespaces else "shared network")]
        return ", ".join(parts)


@dataclass
class _Outcome:
    """What the parent observed of one child."""

    returncode: int = 0
    ready: bool = False
    seconds: float = 0.0
    timed_out: bool = False
    over_quota: bool = False
    status: bytes = b""
    output: bytes = b""

    def reason(self) -> str | None:
        """The first reason the child wrote on its status pipe, if any."""
        for line in self.status.lstrip(b"R").splitlines():
            try:
                value = json.loads(line).get("reason")
            except (ValueError, AttributeError):
                continue
            if isinstance(value, str):
                return value
        return None

    def tail(self, lines: int = 15) -> str:
        text = self.output.decode("utf-8", "replace").rstrip()
        return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------
# Public API


def run_encode(codec_source: str, y: np.ndarray, u: np.ndarray, v: np.ndarray, fps: float, quality: float,
               limits: Limits = Limits()) -> EncodeOutput:
    """Run the codec's `encode` on the planes in a fresh sandboxed process; the bitstream it returned.

    Raises CodecFailure(stage="encode") with a reason a model can act on, SandboxError when the
    sandbox itself failed.
    """
    for name, plane in zip("yuv", (y, u, v)):
        if not isinstance(plane, np.ndarray) or plane.dtype != np.uint8 or plane.ndim != 3:
            raise ClipError(f"plane {name} must be a uint8 numpy array [T, H, W], got {_describe(plane)}")
    raw_bytes = y.nbytes + u.nbytes + v.nbytes
    with _workdir() as work:
        (work / child.CODEC_NAME).write_text(codec_source)
        for name, plane in zip("yuv", (y, u, v)):
            np.save(work / f"{name}.npy", np.ascontiguousarray(plane), allow_pickle=False)
        uid, outcome = _run_child("encode", work, limits, {"fps": float(fps), "quality": float(quality)})
        _raise_unless_ok("encode", outcome, limits)
        bound = min(OUTPUT_FACTOR * raw_bytes, limits.file_mb << 20)
        bitstream = _read_output("encode", work / "bitstream.bin", bound, uid)
    return EncodeOutput(bitstream=bytes(bitstream), seconds=outcome.seconds)


def run_decode(codec_source: str, bitstream: bytes, limits: Limits = Limits()) -> DecodeOutput:
    """Run the codec's `decode` on the bitstream in a fresh sandboxed process; the planes it returned.

    Checks only that decode produced three uint8 arrays of three dimensions; comparing their
    shapes with the source is the evaluator's job. Raises CodecFailure(stage="decode") or SandboxError.
    """
    if not isinstance(bitstream, (bytes, bytearray)):
        raise TypeError(f"bitstream must be bytes, got {type(bitstream).__name__}")
    with _workdir() as work:
        (work / child.CODEC_NAME).write_text(codec_source)
        (work / "bitstream.bin").write_bytes(bitstream)
        uid, outcome = _run_child("decode", work, limits, {})
        _raise_unless_ok("decode", outcome, limits)
        y, u, v = (_read_plane(work / f"{name}.npy", limits.file_mb << 20, uid) for name in "yuv")
    return DecodeOutput(y=y, u=u, v=v, seconds=outcome.seconds)


def isolation_report() -> dict:
    """Which protections are active on this machine, for the result record (probes on first use)."""
    iso = _isolation()
    return {
        "child_uid": (f"fresh per process, from [{UID_RANGE[0]}, {UID_RANGE[1]})" if iso.uid_drop
                      else f"same as the lab ({os.getuid()})"),
        "uid_drop": iso.uid_drop,
        "filesystem_jail": iso.jail,
        "network_namespace": iso.namespaces,
        "ipc_namespace": iso.namespaces,
        "audit_hook": True,
        "no_new_privs": True,
        "non_dumpable": True,
        "rlimits": ["RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", f"RLIMIT_NOFILE={OPEN_FILES}", "RLIMIT_CORE=0"]
                   + ([f"RLIMIT_NPROC={_process_limit()}"] if iso.uid_drop else []),
        "kill_after_run": "every process of the per-run uid" if iso.uid_drop else "the process group only",
        "python": _interpreter(),
        "kernel": os.uname().release,
        "weakened": list(iso.notes),
    }


# ---------------------------------------------------------------------------------------------
# Outcome -> failure


def _raise_unless_ok(stage: str, outcome: _Outcome, limits: Limits) -> None:
    """Raise CodecFailure(stage, reason) unless the child exited 0 of its own accord."""
    reason = _failure_reason(outcome, limits)
    if reason is not None:
        raise CodecFailure(stage, reason)


def _failure_reason(outcome: _Outcome, limits: Limits) -> str | None:
    rc = outcome.returncode
    if outcome.timed_out:
        return f"timeout: no result after {limits.timeout_s:g} s of wall-clock time; the process was killed"
    if outcome.over_quota:
        return f"wrote more than {limits.file_mb} MB into its working directory; the process was killed"
    if rc == 0:
        return None
    if rc == child.REFUSED:
        return outcome.reason() or "refused: a forbidden operation (its details were lost)"
    if rc == child.FAILED:
        return outcome.reason() or "failed (its details were lost)"
    tail = f"\nlast output:\n{outcome.tail()}" if outcome.tail() else ""
    if rc < 0:
        sig = signal.Signals(-rc)
        if sig == signal.SIGXCPU:
            return f"exceeded the CPU-time limit of {_cpu_limit(limits)} s; killed{tail}"
        if sig == signal.SIGKILL:
            return (f"killed by SIGKILL (not by the timeout): the kernel's out-of-memory killer or the hard "
                    f"CPU-time limit ({_cpu_limit(limits)} s){tail}")
        return f"crashed with {sig.name}{tail}"
    return f"exited with status {rc} before finishing (sys.exit or os._exit in the codec?){tail}"


# ---------------------------------------------------------------------------------------------
# Outputs


def _read_output(stage: str, path: Path, limit: int, uid: int | None) -> bytearray:
    """The bytes of a regular file the child wrote; CodecFailure if it is missing, odd or too large."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise CodecFailure(stage, f"produced no {path.name}") from None
    except OSError as exc:
        raise CodecFailure(stage, f"{path.name} cannot be read as a plain file ({exc.strerror})") from None
    with os.fdopen(fd, "rb", buffering=0) as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CodecFailure(stage, f"{path.name} is not a regular file")
        if uid is not None and st.st_uid != uid:
            raise CodecFailure(stage, f"{path.name} was not written by the codec's own process")
        if st.st_size > limit:
            raise CodecFailure(stage, f"output too large: {path.name} has {st.st_size} bytes, the limit is {limit}")
        data = bytearray(st.st_size)
        view, done = memoryview(data), 0
        while done < len(data):
            n = f.readinto(view[done:])
            if not n:
                raise CodecFailure(stage, f"{path.name} changed while it was read")
            done += n
    return data


def _read_plane(path: Path, limit: int, uid: int | None) -> np.ndarray:
    """A decoded plane from a .npy file, checked to be a well-formed uint8 array of three dimensions."""
    data = _read_output("decode", path, limit, uid)
    header = io.BytesIO(bytes(data[:70000]))
    try:
        version = np.lib.format.read_magic(header)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"unexpected format version {version}")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(header)
    except (ValueError, SyntaxError, TypeError) as exc:
        raise CodecFailure("decode", f"{path.name} is not a well-formed .npy file: {exc}") from None
    offset = header.tell()
    if dtype != np.uint8 or len(shape) != 3 or math.prod(shape) != len(data) - offset:
        raise CodecFailure("decode", f"{path.name} does not hold a complete uint8 array of 3 dimensions "
                                     f"(dtype {dtype}, shape {shape}); was it overwritten by the codec?")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape, order="F" if fortran else "C")


# ---------------------------------------------------------------------------------------------
# One child


@contextmanager
def _workdir() -> Iterator[Path]:
    """A fresh, empty working directory (and its jail mount point beside it), removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="aiv-sandbox-"))
    try:
        os.chmod(base, 0o711)
        (base / "root").mkdir(mode=0o700)
        work = base / "work"
        work.mkdir(mode=0o700)
        yield work
    finally:
        _remove_tree(base)


def _remove_tree(path: Path) -> None:
    """Delete a working directory however the codec left it: locked folders, or nested past recursion."""
    def unlock_and_retry(func: Callable, failed: str, _exc: object) -> None:
        for folder in (os.path.dirname(failed), failed):
            if stat.S_ISDIR(os.lstat(folder).st_mode):
                os.chmod(folder, 0o700)
        func(failed)

    try:
        shutil.rmtree(path, onerror=unlock_and_retry)
    except (RecursionError, OSError):
        subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], check=True, capture_output=True)


def _run_child(stage: str, work: Path, limits: Limits, extra: dict, isolation: _Isolation | None = None
               ) -> tuple[int | None, _Outcome]:
    """Run the child for `stage` in `work` to its end and kill all it started; the uid it ran as."""
    iso = isolation or _isolation()
    uid = _claim_uid() if iso.uid_drop else None
    try:
        if uid is not None:
            for entry in [work, *work.iterdir()]:
                os.chown(entry, uid, uid)
        outcome = _start_and_supervise(stage, work, limits, extra, iso, uid)
    finally:
        _release_uid(uid)
    if not outcome.ready:
        if outcome.timed_out:
            detail = f"not ready after {SETUP_TIMEOUT_S:g} s"
        else:
            detail = outcome.reason() or outcome.tail() or f"exit status {outcome.returncode}"
        raise SandboxError(f"the sandboxed {stage} failed before the codec ran ({iso.describe()}): {detail}")
    return uid, outcome


def _start_and_supervise(stage: str, work: Path, limits: Limits, extra: dict, iso: _Isolation, uid: int | None
                         ) -> _Outcome:
    status_r, status_w = os.pipe()  # the child's ready byte and failure reason
    cfg = {"stage": stage, "workdir": str(work), "status_fd": status_w, "site_dirs": list(_site_dirs()),
           "read_prefixes": list(_install_prefixes()), "read_files": list(_READ_FILES),
           "memory_mb": limits.memory_mb, "file_mb": limits.file_mb, **extra}
    try:
        proc = subprocess.Popen(
            [_interpreter(), *_PYTHON_FLAGS, "-c", _child_source(), json.dumps(cfg)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_environment(work),
            cwd=work, close_fds=True, pass_fds=(status_w,), start_new_session=True, umask=0o077,
            preexec_fn=_enter_sandbox(iso, uid, work, limits, status_w))
    except (OSError, subprocess.SubprocessError) as exc:
        os.close(status_w)
        detail = _Outcome(status=_drain(status_r)).reason()
        os.close(status_r)
        raise SandboxError(f"could not start the sandboxed {stage} ({iso.describe()}): {detail or exc}") from exc
    os.close(status_w)
    try:
        try:
            outcome = _supervise(proc, status_r, work, limits)
        finally:
            _kill_all(proc, uid)
        outcome.returncode = proc.returncode
        outcome.status += _drain(status_r)
        outcome.output = (outcome.output + _drain(proc.stdout.fileno()))[-TAIL_BYTES:]
    finally:
        os.close(status_r)
        proc.stdout.close()
    return outcome


def _supervise(proc: subprocess.Popen, status_r: int, work: Path, limits: Limits) -> _Outcome:
    """Wait for the ready byte, then for the exit; the codec clock runs between the two."""
    outcome = _Outcome()
    out_fd = proc.stdout.fileno()
    try:
        pidfd = os.pidfd_open(proc.pid)  # readable the moment the child exits: an exact stop time
    except (AttributeError, OSError):
        pidfd = None
    watched = [fd for fd in (pidfd, status_r, out_fd) if fd is not None]
    quota = _tree_bytes(work) + (limits.file_mb << 20)  # what the codec may add to its inputs
    ready_at = last_scan = time.monotonic()
    deadline = ready_at + SETUP_TIMEOUT_S
    try:
        while True:
            wait = min(POLL_S if pidfd is not None else 0.01, deadline - time.monotonic())
            if wait <= 0:
                outcome.timed_out = True
                break
            readable, _, _ = select.select(watched, [], [], wait)
            now = time.monotonic()
            if status_r in readable:
                chunk = os.read(status_r, 65536)
                outcome.status = (outcome.status + chunk)[:65536]
                if not chunk:
                    watched.remove(status_r)
                if not outcome.ready and outcome.status[:1] == b"R":
                    outcome.ready, ready_at, deadline = True, now, now + limits.timeout_s
            if out_fd in readable:
                chunk = os.read(out_fd, 65536)
                outcome.output = (outcome.output + chunk)[-TAIL_BYTES:]
                if not chunk:
                    watched.remove(out_fd)
            exited = pidfd in readable if pidfd is not None else proc.poll() is not None
            if exited:
                outcome.seconds = now - ready_at if outcome.ready else 0.0
                break
            if outcome.ready and now - last_scan >= POLL_S:
                last_scan = now
                if _tree_bytes(work) > quota:
                    outcome.over_quota = True
                    break
    finally:
        if pidfd is not None:
            os.close(pidfd)
    return outcome


def _kill_all(proc: subprocess.Popen, uid: int | None) -> None:
    """SIGKILL the child's process group and, with a per-run uid, every process of that uid; reap."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the leader is unreaped, so its group id is still ours
    except ProcessLookupError:
        pass
    proc.wait()
    if uid is not None:
        _kill_uid(uid)


def _kill_uid(uid: int) -> None:
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


def _tree_bytes(root: Path, max_entries: int = 100_000) -> int:
    """Total apparent size of the files under root; 'infinite' past max_entries entries."""
    total, seen, stack = 0, 0, [str(root)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > max_entries:
                return sys.maxsize
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                stack.append(entry.path)
            else:
                total += st.st_size
    return total


def _drain(fd: int) -> bytes:
    """Whatever is left in a pipe, without blocking (a surviving writer cannot hold us up)."""
    os.set_blocking(fd, False)
    chunks = []
    while sum(map(len, chunks)) < 1 << 20:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------------------------------------
# Entering the sandbox (runs in the forked child, before exec)


def _enter_sandbox(iso: _Isolation, uid: int | None, work: Path, limits: Limits, status_w: int) -> Callable[[], None]:
    layout = _jail_layout() if iso.jail else None
    libc = _libc()
    cpu = _cpu_limit(limits)
    nproc = _process_limit() if uid is not None else None

    def enter() -> None:
        try:
            if iso.namespaces or iso.jail:
                flags = CLONE_NEWNET | CLONE_NEWIPC | (CLONE_NEWNS if iso.jail else 0)
                _check(libc.unshare(flags if os.geteuid() == 0 else flags | CLONE_NEWUSER), "unshare")
            if layout is not None:
                _build_jail(libc, layout, str(work))
            _set_limits(limits.memory_mb, cpu, limits.file_mb, nproc)
            _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
            if uid is not None:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
        except BaseException as exc:
            os.write(status_w, (json.dumps({"reason": f"sandbox setup: {type(exc).__name__}: {exc}"}) + "\n").encode())
            raise

    return enter


def _set_limits(memory_mb: int, cpu_s: int, file_mb: int, nproc: int | None) -> None:
    """Lower this process's resource limits (never above a hard limit it already has)."""
    wanted = {resource.RLIMIT_AS: memory_mb << 20, resource.RLIMIT_CPU: cpu_s, resource.RLIMIT_FSIZE: file_mb << 20,
              resource.RLIMIT_NOFILE: OPEN_FILES, resource.RLIMIT_CORE: 0}
    if nproc is not None:
        wanted[resource.RLIMIT_NPROC] = nproc
    for which, value in wanted.items():
        _, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        hard_value = value + 5 if which == resource.RLIMIT_CPU and hard == resource.RLIM_INFINITY else value
        resource.setrlimit(which, (value, hard_value))


def _build_jail(libc: ctypes.CDLL, layout: dict, work: str) -> None:
    """Make a private read-only root holding only what the interpreter needs, and chroot into it."""
    root = str(Path(work).parent / "root")

    def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        encode = (lambda s: None if s is None else s.encode())
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

    umask = os.umask(0o022)  # the skeleton's directories must be traversable by the child's uid
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    for source in layout["read_only"]:
        bind(source, MS_RDONLY | MS_NOSUID | MS_NODEV)
    for link, target in layout["symlinks"]:
        os.symlink(target, root + link)
    os.makedirs(root + "/dev")
    mount("tmpfs", root + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")
    for device in layout["devices"]:
        bind(device, MS_NOSUID | MS_NOEXEC)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    mount(None, root + "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
    os.makedirs(root + "/proc")
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, layout["proc_options"])
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
# Machine facts (computed once)


@lru_cache(maxsize=1)
def _isolation() -> _Isolation:
    """The strongest isolation a trivial child actually starts under, with why stronger ones failed."""
    if os.geteuid() == 0:
        candidates = [_Isolation(True, True, True), _Isolation(True, False, True), _Isolation(True, False, False),
                      _Isolation(False, False, True), _Isolation(False, False, False)]
    else:
        candidates = [_Isolation(False, False, True), _Isolation(False, False, False)]
    notes: list[str] = []
    for candidate in candidates:
        try:
            with _workdir() as work:
                _run_child("probe", work, Limits(timeout_s=SETUP_TIMEOUT_S), {}, isolation=candidate)
        except SandboxError as exc:
            notes.append(f"{candidate.describe()}: unavailable ({exc})")
            continue
        if os.geteuid() != 0:
            notes.append("the lab is not root: no per-run uid and no mount jail")
        if notes:
            log.warning("codec sandbox weakened to %s: %s", candidate.describe(), "; ".join(notes))
        return _Isolation(candidate.uid_drop, candidate.jail, candidate.namespaces, tuple(notes))
    raise SandboxError("no sandbox configuration works on this machine: " + "; ".join(notes))


_UIDS_IN_USE: set[int] = set()
_UIDS_LOCK = threading.Lock()


def _claim_uid() -> int:
    """A uid from UID_RANGE that no process and no other run of this lab is using."""
    with _UIDS_LOCK:
        while True:
            uid = UID_RANGE[0] + secrets.randbelow(UID_RANGE[1] - UID_RANGE[0])
            if uid not in _UIDS_IN_USE and not _processes_of(uid):
                _UIDS_IN_USE.add(uid)
                return uid


def _release_uid(uid: int | None) -> None:
    with _UIDS_LOCK:
        _UIDS_IN_USE.discard(uid)


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    libc.unshare.argtypes = [ctypes.c_int]
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return libc


@lru_cache(maxsize=1)
def _interpreter() -> str:
    return os.path.realpath(sys.executable)


@lru_cache(maxsize=1)
def _child_source() -> str:
    return Path(child.__file__).read_text()


@lru_cache(maxsize=1)
def _site_dirs() -> tuple[str, ...]:
    """The site-packages directories the child needs: the lab's, plus wherever numpy, torch and cv2 live."""
    dirs = [os.path.realpath(d) for d in site.getsitepackages() if os.path.isdir(d)]
    for name in ("numpy", "torch", "cv2"):
        spec = find_spec(name)
        if spec is not None and spec.origin:
            where = os.path.dirname(os.path.dirname(os.path.realpath(spec.origin)))
            if where not in dirs:
                dirs.append(where)
    return tuple(dirs)


@lru_cache(maxsize=1)
def _install_prefixes() -> tuple[str, ...]:
    """Directories the child may import from and load native libraries from: the stdlib and site dirs."""
    paths = sysconfig.get_paths()
    stdlib = {os.path.realpath(paths[key]) for key in ("stdlib", "platstdlib")}
    return _outermost([*stdlib, *_site_dirs()])


@lru_cache(maxsize=1)
def _jail_layout() -> dict:
    """What the jail holds: read-only binds, the root's symlinks, device nodes and the /proc options."""
    system = ["/usr", "/etc"]
    symlinks = []
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            symlinks.append((top, os.readlink(top)))
        elif os.path.isdir(top):
            system.append(top)
    python = [os.path.realpath(sys.base_prefix), os.path.dirname(_interpreter()), *_site_dirs()]
    devices = [d for d in _DEVICES if os.path.exists(d)]
    devices += sorted(str(p) for p in Path("/dev").glob("nvidia*"))
    release = tuple(int(x) for x in os.uname().release.split(".")[:2] if x.isdigit())
    return {
        "read_only": _outermost(system + python),
        "symlinks": symlinks,
        "devices": devices,
        # Since Linux 5.8 every proc mount has its own options; before, hidepid would change the host's /proc.
        "proc_options": "hidepid=invisible" if release >= (5, 8) else None,
    }


def _outermost(paths: list[str]) -> tuple[str, ...]:
    """The paths that are not inside another one of them, shortest first."""
    kept: list[str] = []
    for path in sorted(set(paths), key=len):
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return tuple(kept)


@lru_cache(maxsize=1)
def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _cpu_limit(limits: Limits) -> int:
    return math.ceil(limits.cpu_s if limits.cpu_s is not None else limits.timeout_s * _cores() + 10)


def _process_limit() -> int:
    """RLIMIT_NPROC for a per-run uid: it counts threads, and torch starts a few per core."""
    return 256 + 8 * _cores()


def _environment(work: Path) -> dict[str, str]:
    """The child's whole environment: nothing is inherited except which GPUs it may use."""
    threads = str(_cores())
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
           "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
           "NUMEXPR_NUM_THREADS": threads, "VECLIB_MAXIMUM_THREADS": threads}
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    return env


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__
