"""Run an untrusted candidate's encode or decode in a sandboxed child process (Linux).

Every call starts one fresh child: the encoder and the decoder never share a process, a working
directory or a uid. The parent creates a temporary directory per child holding only what that
stage may see (encode: codec.py and y/u/v.npy; decode: codec.py and bitstream.bin), removes it
afterwards, and reads the outputs itself (regular files only, no symlinks, bounded size).

This module supervises the child: its wall-clock timeout, the size of its working directory, its
environment, its memory limit (a per-run cgroup where there is one, cgroup.py, else RLIMIT_AS), and
killing all it started. The child dies with its supervisor (PR_SET_PDEATHSIG); what a killed
supervisor leaves behind, the next sandbox call removes (sandbox_registry.py). What contains it at
the level of the operating system (per-run uid, mount jail, namespaces, rlimits), which of those
protections this machine allows and which are best effort only is in isolation.py;
`isolation_report()` says which are active here.

Codec time is measured here, not reported by the child: the clock starts when the child writes
its ready byte (interpreter up, numpy imported, inputs loaded) and stops when it exits, so the
codec's import-time work, its call and the writing of its output all count.
"""

from __future__ import annotations

import io
import json
import math
import os
import select
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from aiv.codec import sandbox_child as child
from aiv.codec import sandbox_registry as registry
from aiv.codec.cgroup import create_run_cgroup, delegated_parent, oom_killed, remove_cgroup
from aiv.codec.isolation import (
    OPEN_FILES,
    PYTHON_FLAGS,
    READ_FILES,
    UID_RANGE,
    Isolation,
    SandboxError,
    claim_uid,
    enter_sandbox,
    exit_status,
    install_prefixes,
    interpreter,
    kill_uid,
    launcher,
    release_uid,
    site_dirs,
    strongest,
)
from aiv.codec.view import package_paths
from aiv.errors import ClipError, CodecFailure

SETUP_TIMEOUT_S = 60.0  # interpreter start, numpy import and input loading, before the codec runs
OUTPUT_FACTOR = 8  # a bitstream may be at most this many times the raw input
POLL_S = 0.2
TAIL_BYTES = 8192


@dataclass(frozen=True)
class Limits:
    """Resource limits for one encode or decode."""

    timeout_s: float = 600.0  # wall clock per encode or decode
    memory_mb: int = 4096  # resident memory of the run (per-run cgroup), else address space per process (RLIMIT_AS)
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


@dataclass
class _Outcome:
    """What the parent observed of one child."""

    returncode: int = 0
    ready: bool = False
    seconds: float = 0.0
    timed_out: bool = False
    over_quota: bool = False
    memory_killed: bool = False  # the kernel killed it for going over the cgroup's memory.max
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


def run_encode(
    codec_source: str,
    y: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    fps: float,
    quality: float,
    limits: Limits = Limits(),
    codec_file: str = child.CODEC_NAME,
    device: str = "cpu",
) -> EncodeOutput:
    """Run the codec's `encode` on the planes in a fresh sandboxed process; the bitstream it returned.

    `device` ("cpu" or "cuda") is what the codec is told it runs on (its module attribute DEVICE); on
    "cuda" the child imports torch and starts CUDA before the codec's clock. Raises
    CodecFailure(stage="encode") with a reason a model can act on, SandboxError when the sandbox itself
    failed (or "cuda" finds no CUDA device). Tracebacks name the module `codec_file` (the researcher's file name).
    """
    for name, plane in zip("yuv", (y, u, v)):
        if not isinstance(plane, np.ndarray) or plane.dtype != np.uint8 or plane.ndim != 3:
            raise ClipError(f"plane {name} must be a uint8 numpy array [T, H, W], got {_describe(plane)}")
    raw_bytes = y.nbytes + u.nbytes + v.nbytes
    with _workdir() as work:
        (work / child.CODEC_NAME).write_text(codec_source)
        for name, plane in zip("yuv", (y, u, v)):
            np.save(work / f"{name}.npy", np.ascontiguousarray(plane), allow_pickle=False)
        uid, outcome = _run_child(
            "encode",
            work,
            limits,
            {"fps": float(fps), "quality": float(quality), "codec_file": codec_file, "device": _checked(device)},
        )
        _raise_unless_ok("encode", outcome, limits)
        bound = min(OUTPUT_FACTOR * raw_bytes, limits.file_mb << 20)
        bitstream = _read_output("encode", work / "bitstream.bin", bound, uid)
    return EncodeOutput(bitstream=bytes(bitstream), seconds=outcome.seconds)


def run_decode(
    codec_source: str,
    bitstream: bytes,
    limits: Limits = Limits(),
    codec_file: str = child.CODEC_NAME,
    device: str = "cpu",
) -> DecodeOutput:
    """Run the codec's `decode` on the bitstream in a fresh sandboxed process; the planes it returned.
    `device` as for run_encode.

    Checks only that decode produced three uint8 arrays of three dimensions, else CodecFailure(stage="check"),
    like every breach of the output contract; comparing their shapes with the source is the
    evaluator's job. Raises CodecFailure(stage="decode") when decode itself failed, or SandboxError.
    """
    if not isinstance(bitstream, (bytes, bytearray)):
        raise TypeError(f"bitstream must be bytes, got {type(bitstream).__name__}")
    with _workdir() as work:
        (work / child.CODEC_NAME).write_text(codec_source)
        (work / "bitstream.bin").write_bytes(bitstream)
        uid, outcome = _run_child("decode", work, limits, {"codec_file": codec_file, "device": _checked(device)})
        if outcome.returncode == child.BROKE_CONTRACT and not (outcome.timed_out or outcome.over_quota):
            raise CodecFailure("check", outcome.reason() or "decode's output breaks the contract (details lost)")
        _raise_unless_ok("decode", outcome, limits)
        y, u, v = (_read_plane(work / f"{name}.npy", limits.file_mb << 20, uid) for name in "yuv")
    return DecodeOutput(y=y, u=u, v=v, seconds=outcome.seconds)


def isolation_report() -> dict:
    """Which protections are active on this machine, for the result record (probes on first use)."""
    iso = _isolation()
    return {
        "isolation": iso.kind,
        "full_view": iso.full_view,
        "child_uid": (
            f"fresh per process, from [{UID_RANGE[0]}, {UID_RANGE[1]})"
            if iso.uid_drop
            else f"same as the lab ({os.getuid()})"
        ),
        "uid_drop": iso.uid_drop,
        "filesystem_jail": iso.full_view,
        "network_namespace": iso.namespaces,
        "ipc_namespace": iso.namespaces,
        "audit_hook": True,
        "no_new_privs": True,
        "non_dumpable": True,
        "memory_limit": _memory_limit_text(),
        "rlimits": ([] if _cgroup_parent() else ["RLIMIT_AS"])
        + ["RLIMIT_CPU", "RLIMIT_FSIZE", f"RLIMIT_NOFILE={OPEN_FILES}", "RLIMIT_CORE=0"]
        + ([f"RLIMIT_NPROC={_process_limit()}"] if iso.uid_drop else []),
        "kill_after_run": (
            "every process of the per-run uid"
            if iso.uid_drop
            else "every process of its pid namespace"
            if iso.bwrap
            else "the process group only"
        )
        + (" and of the per-run cgroup" if _cgroup_parent() else ""),
        "dies_with_supervisor": "PR_SET_PDEATHSIG=SIGKILL; leftovers of dead runs removed by the next run",
        "python": interpreter(),
        "kernel": os.uname().release,
        "view_packages": sorted(Path(p).name for p in package_paths()) if iso.full_view else None,
        "weakened": list(iso.notes),
    }


def weak_sandbox_reason() -> str | None:
    """Why the sandbox on this machine is weaker than the full filesystem view, or None when it is not."""
    iso = _isolation()
    if iso.full_view:
        return None
    return (
        f"the codec sandbox runs as '{iso.kind}' ({iso.describe()}): codecs can read, through native code, "
        f"every file the lab can read" + (f"; {'; '.join(iso.notes)}" if iso.notes else "")
    )


# ---------------------------------------------------------------------------------------------
# Outcome -> failure


def _raise_unless_ok(stage: str, outcome: _Outcome, limits: Limits) -> None:
    """Raise CodecFailure(stage, reason) unless the child exited 0 of its own accord."""
    reason = _failure_reason(stage, outcome, limits)
    if reason is not None:
        raise CodecFailure(stage, reason)


def _failure_reason(stage: str, outcome: _Outcome, limits: Limits) -> str | None:
    rc = outcome.returncode
    if outcome.timed_out:
        return f"timeout: no result after {limits.timeout_s:g} s of wall-clock time; the process was killed"
    if outcome.over_quota:
        return f"wrote more than {limits.file_mb} MB into its working directory; the process was killed"
    if outcome.memory_killed:
        return (
            f"out of memory in {stage} (the memory limit is {limits.memory_mb} MB of resident memory for the "
            f"run, cgroup memory.max): the kernel killed the process"
        )
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
            return (
                f"killed by SIGKILL (not by the timeout): the kernel's out-of-memory killer or the hard "
                f"CPU-time limit ({_cpu_limit(limits)} s){tail}"
            )
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
        raise CodecFailure(
            "decode",
            f"{path.name} does not hold a complete uint8 array of 3 dimensions "
            f"(dtype {dtype}, shape {shape}); was it overwritten by the codec?",
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape, order="F" if fortran else "C")


# ---------------------------------------------------------------------------------------------
# One child


@contextmanager
def _workdir() -> Iterator[Path]:
    """A fresh, empty working directory (and its jail mount point beside it), removed afterwards.

    First removes what dead runs left in the same temporary folder.
    """
    registry.remove_dead(Path(tempfile.gettempdir()))
    base = Path(tempfile.mkdtemp(prefix=registry.FOLDER_PREFIX))
    try:
        os.chmod(base, 0o711)
        registry.record(base)
        (base / "root").mkdir(mode=0o700)
        work = base / "work"
        work.mkdir(mode=0o700)
        yield work
    finally:
        registry.remove_tree(base)


def _run_child(
    stage: str, work: Path, limits: Limits, extra: dict, isolation: Isolation | None = None
) -> tuple[int | None, _Outcome]:
    """Run the child for `stage` in `work` to its end and kill all it started; the uid it ran as."""
    iso = isolation or _isolation()
    uid = claim_uid() if iso.uid_drop else None
    cgroup = None
    try:
        parent = _cgroup_parent()
        cgroup = create_run_cgroup(parent, limits.memory_mb, _process_limit()) if parent else None
        registry.record(work.parent, uid, cgroup)
        if uid is not None:
            for entry in [work, *work.iterdir()]:
                os.chown(entry, uid, uid)
        outcome = _start_and_supervise(stage, work, limits, extra, iso, uid, cgroup)
        outcome.memory_killed = cgroup is not None and oom_killed(cgroup)
    finally:
        if cgroup is not None:
            remove_cgroup(cgroup)
        release_uid(uid)
    if not outcome.ready:
        if outcome.memory_killed:
            detail = f"out of memory (the memory limit is {limits.memory_mb} MB of resident memory, cgroup memory.max)"
        elif outcome.timed_out:
            detail = f"not ready after {SETUP_TIMEOUT_S:g} s"
        else:
            detail = outcome.reason() or outcome.tail() or f"exit status {outcome.returncode}"
        raise SandboxError(f"the sandboxed {stage} failed before the codec ran ({iso.describe()}): {detail}")
    return uid, outcome


def _start_and_supervise(
    stage: str, work: Path, limits: Limits, extra: dict, iso: Isolation, uid: int | None, cgroup: Path | None
) -> _Outcome:
    prefix = launcher(iso, work)  # bwrap and its options, or nothing
    status_r, status_w = os.pipe()  # the child's ready byte and failure reason
    memory_limit = (
        f"{limits.memory_mb} MB of resident memory for the run, cgroup memory.max"
        if cgroup
        else f"{limits.memory_mb} MB of address space per process, RLIMIT_AS"
    )
    cfg = {
        "stage": stage,
        "workdir": str(work),
        "status_fd": status_w,
        "site_dirs": list(site_dirs()),
        "read_prefixes": list(install_prefixes()),
        "read_files": list(READ_FILES),
        "memory_limit": memory_limit,
        "file_mb": limits.file_mb,
        **extra,
    }
    try:
        proc = subprocess.Popen(
            [*prefix, interpreter(), *PYTHON_FLAGS, "-c", _child_source(), json.dumps(cfg)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=_environment(work),
            cwd=work,
            close_fds=True,
            pass_fds=(status_w,),
            start_new_session=True,
            umask=0o077,
            preexec_fn=enter_sandbox(
                iso,
                uid,
                work,
                status_w,
                memory_mb=None if cgroup else limits.memory_mb,
                cpu_s=_cpu_limit(limits),
                file_mb=limits.file_mb,
                nproc=_process_limit() if uid is not None else None,
                cgroup=cgroup,
            ),
        )
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
        outcome.returncode = exit_status(iso, proc.returncode)
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
        kill_uid(uid)


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
# Machine facts (computed once)


@lru_cache(maxsize=1)
def _isolation() -> Isolation:
    """The isolation every child gets on this machine: the strongest a trivial child starts under."""
    return strongest(_probe)


def _probe(candidate: Isolation) -> None:
    """Run a trivial child under `candidate`; SandboxError if it does not start."""
    with _workdir() as work:
        _run_child("probe", work, Limits(timeout_s=SETUP_TIMEOUT_S), {}, isolation=candidate)


def _cgroup_parent() -> Path | None:
    """Where per-run cgroups go on this machine, or None: memory is then limited by RLIMIT_AS."""
    return delegated_parent()[0]


def _memory_limit_text() -> str:
    parent, why = delegated_parent()
    if parent:
        return f"cgroup v2 memory.max: resident memory of the whole run (no RLIMIT_AS), and pids.max ({why})"
    return f"RLIMIT_AS: address space of each process (no per-run cgroup: {why})"


@lru_cache(maxsize=1)
def _child_source() -> str:
    return Path(child.__file__).read_text()


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
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(work),
        "TMPDIR": str(work),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "NUMEXPR_NUM_THREADS": threads,
        "VECLIB_MAXIMUM_THREADS": threads,
    }
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    return env


def _checked(device: str) -> str:
    """`device` when the child knows it: one of child.DEVICES."""
    if device not in child.DEVICES:
        raise ValueError(f"device must be one of {', '.join(child.DEVICES)}, got {device!r}")
    return device


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__
