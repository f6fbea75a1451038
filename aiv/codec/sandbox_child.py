"""The program that runs inside the sandbox: it loads one candidate codec and calls it once.

Standalone on purpose: it imports nothing from `aiv`, because the child's view of the machine
holds only the Python installation and its working directory. The parent (aiv/codec/sandbox.py)
passes its source with `python -S -s -P -B -c` and one JSON argument:

    {"stage": "encode" | "decode" | "probe", "workdir": ..., "status_fd": N,
     "site_dirs": [...], "read_prefixes": [...], "read_files": [...], "memory_limit": "...", "file_mb": N,
     "device": "cpu" | "cuda", "fps": ..., "quality": ...}

Order of work, which the parent's clock depends on:
  1. make the process non-dumpable, replace the few primitives that raise no audit event
     (_disarm), install the audit hook -- all before anything untrusted runs,
  2. import numpy and read the inputs from the working directory; on device "cuda" also import
     torch and start CUDA (a job without a CUDA device fails here, before the codec runs),
  3. write b"R" to the status pipe -- the parent starts the codec clock when it reads it,
  4. import codec.py (its import-time work counts as codec time), set its DEVICE to the device,
     call encode or decode,
  5. check the return type and write the outputs; exit 0.
A failure writes one JSON line {"reason": ...} to the status pipe and exits with FAILED; a refused
operation writes {"reason": "refused: ..."} and exits at once with REFUSED, whatever the codec
does to catch it.
"""

import errno
import json
import os
import pathlib
import sys

FAILED = 87
REFUSED = 86
BROKE_CONTRACT = 88  # decode returned something other than three uint8 [T, H, W] arrays
CODEC_NAME = "codec.py"
DEVICES = ("cpu", "cuda")  # what the codec may be told it runs on: the module attribute DEVICE

# Audit events that are harmless (or that the interpreter needs) and pass without a check.
ALLOWED_EVENTS = frozenset(
    (
        "exec",
        "compile",
        "object.__getattr__",
        "object.__setattr__",
        "object.__delattr__",
        "builtins.id",
        "builtins.input",
        "builtins.input/result",
        "code.__new__",
        "function.__new__",
        "marshal.loads",
        "marshal.load",
        "marshal.dumps",
        "pickle.find_class",
        "array.__new__",
        "sys._getframe",
        "sys._getframemodulename",
        "sys.settrace",
        "sys.setprofile",
        "sys.excepthook",
        "sys.unraisablehook",
        "sys.set_asyncgen_hook_finalizer",
        "sys.set_asyncgen_hook_firstiter",
        "sys._current_frames",
        "sys._current_exceptions",
        "os.putenv",
        "os.unsetenv",
        "resource.setrlimit",
        "signal.pthread_kill",
        "mmap.__new__",
        "fcntl.fcntl",
        "fcntl.flock",
        "fcntl.lockf",
        "os.lockf",
        "time.sleep",
        "_thread.start_new_thread",
        "cpython._PySys_ClearAuditHooks",
        "cpython.PyInterpreterState_Clear",
        "cpython.PyInterpreterState_New",
    )
)
# Functions that act outside the process without raising an audit event; _disarm replaces them.
DISARMED = {
    "_posixsubprocess": ("fork_exec",),  # what subprocess uses to start a process
    "_posixshmem": ("shm_open", "shm_unlink"),  # POSIX shared memory: a stash outside the working directory
    "posix": ("mknod",),  # device nodes (a root child could read the raw disk through one)
    "_signal": ("pidfd_send_signal",),  # signals to other processes
}
# Audit events on paths: (event, argument indices read, indices written, indices of dir_fd arguments).
PATH_EVENTS = (
    ("os.listdir", (0,), (), ()),
    ("os.scandir", (0,), (), ()),
    ("os.walk", (0,), (), ()),
    ("os.fwalk", (0,), (), (4,)),
    ("glob.glob", (0,), (), ()),
    ("glob.glob/2", (0, 2), (), (3,)),
    ("pathlib.Path.glob", (0,), (), ()),
    ("pathlib.Path.rglob", (0,), (), ()),
    ("os.getxattr", (0,), (), ()),
    ("os.listxattr", (0,), (), ()),
    ("os.chdir", (), (0,), ()),
    ("os.mkdir", (), (0,), (2,)),
    ("os.remove", (), (0,), (1,)),
    ("os.rmdir", (), (0,), (1,)),
    ("os.rename", (), (0, 1), (2, 3)),
    ("os.link", (), (0, 1), (2, 3)),
    ("os.symlink", (), (1,), (2,)),
    ("os.chmod", (), (0,), (2,)),
    ("os.truncate", (), (0,), ()),
    ("os.utime", (), (0,), (3,)),
    ("os.setxattr", (), (0,), ()),
    ("os.removexattr", (), (0,), ()),
    ("shutil.copyfile", (0,), (1,), ()),
    ("shutil.copymode", (0,), (1,), ()),
    ("shutil.copystat", (0,), (1,), ()),
    ("shutil.copytree", (0,), (1,), ()),
    ("shutil.move", (), (0, 1), ()),
    ("shutil.rmtree", (), (0,), (1,)),
    ("shutil.make_archive", (2,), (0,), ()),
    ("shutil.unpack_archive", (0,), (1,), ()),
    ("tempfile.mkstemp", (), (0,), ()),
    ("tempfile.mkdtemp", (), (0,), ()),
)


def _install_guard(cfg: dict) -> None:
    """Install the audit hook that refuses network, processes, native code and outside files.

    Everything the hook uses is bound here, in its closure: C functions, builtins, frozen tuples.
    A codec that monkeypatches os, posixpath, json or builtins changes nothing the hook decides
    with; an exception it provokes inside the hook only aborts the operation being audited.
    """
    workdir = cfg["workdir"]
    status_fd = cfg["status_fd"]
    given_prefixes = tuple(cfg["read_prefixes"])  # the stdlib and site-packages the parent found
    write_files = ("/dev/null",)
    codec_path = workdir + "/" + CODEC_NAME
    lstat, readlink, getcwd, write, exit_now = os.lstat, os.readlink, os.getcwd, os.write, os._exit
    fsdecode, fspath, getframe, why = os.fsdecode, os.fspath, sys._getframe, _why
    json_string = json.encoder.encode_basestring_ascii  # C code: a patched json or builtins cannot break it
    refused_code, codec_name = REFUSED, str(cfg.get("codec_file", CODEC_NAME))
    isinstance_, type_, len_, repr_, str_, int_, none = isinstance, type, len, repr, str, int, type(None)
    os_error, type_error = OSError, TypeError
    shown_types = (str, bytes, int, float, bool, none)
    path_types = (pathlib.PurePosixPath, pathlib.PosixPath)
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    allowed = ALLOWED_EVENTS
    path_events = {name: (reads, writes, dir_fds) for name, reads, writes, dir_fds in PATH_EVENTS}  # private copy

    def plain(obj):
        """A path argument as an exact str (None for a file descriptor); no codec code runs."""
        kind = type_(obj)
        if obj is None or kind is int_:
            return None
        if isinstance_(obj, str_):
            return "".join((obj,))
        if isinstance_(obj, (bytes, bytearray)):
            return fsdecode(b"".join((obj,)))
        if kind in path_types:
            return fspath(obj)
        raise type_error(kind.__name__)

    def resolve(path, depth=0):
        """Absolute path with every symlink followed (a realpath built on captured functions only)."""
        if not path.startswith("/"):
            path = getcwd() + "/" + path
        done = ""
        for part in path.split("/"):
            if part == "" or part == ".":
                continue
            if part == "..":
                done = done[: done.rfind("/")]
                continue
            candidate = done + "/" + part
            try:
                is_link = (lstat(candidate).st_mode & 0o170000) == 0o120000
            except os_error:
                is_link = False
            if is_link and depth < 40:
                target = readlink(candidate)
                done = resolve(target if target.startswith("/") else done + "/" + target, depth + 1)
                done = "" if done == "/" else done
            else:
                done = candidate
        return done or "/"

    read_files = tuple(resolve(f) for f in cfg["read_files"])  # /proc/self/... -> /proc/<pid>/...
    # Where imports and native libraries may come from: those prefixes and this interpreter's sys.path.
    install_prefixes = given_prefixes + tuple(resolve(p) for p in sys.path if p.startswith("/"))
    read_prefixes = install_prefixes + (workdir,)
    disarmed = frozenset(DISARMED)

    def inside(path, prefixes):
        for prefix in prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return True
        return False

    def codec_line():
        frame = getframe(0)
        while frame is not None:
            if frame.f_code.co_filename == codec_path:
                return f" (at {codec_name} line {frame.f_lineno})"
            frame = frame.f_back
        return ""

    def shown(args):
        parts = []
        for a in args[:4]:
            text = repr_(a) if type_(a) in shown_types else "<" + type_(a).__name__ + ">"
            parts.append(text if len_(text) <= 120 else text[:117] + "...")
        return ", ".join(parts)

    def refuse(event, args, reason):
        message = f"refused: {event}({shown(args)}): {reason}{codec_line()}"
        line = '{"reason": ' + json_string(message) + "}\n"
        for fd in (status_fd, 2):
            try:
                write(fd, line.encode())
            except os_error:
                pass
        exit_now(refused_code)

    def check_path(event, args, raw, writing):
        try:
            path = plain(raw)
        except type_error as exc:
            refuse(event, args, f"a path of type {exc} is not accepted; pass a str")
        if path is None:
            return
        real = resolve(path)
        if writing and not (inside(real, (workdir,)) or real in write_files):
            refuse(event, args, f"writing outside the working directory ({real})")
        if not writing and not (inside(real, read_prefixes) or real in read_files):
            refuse(event, args, f"reading outside the working directory ({real})")

    def check_native(event, args, raw):
        try:
            real = resolve(plain(raw))
        except type_error:
            real = ""
        if not inside(real, install_prefixes):
            refuse(event, args, "native code may only be loaded from the Python installation")

    def hook(event, args):
        if event in allowed:
            return
        if event == "open":
            path, mode, flags = args
            text_mode = mode if type_(mode) is str_ else ""
            writing = (flags & write_flags) != 0 or "w" in text_mode or "a" in text_mode
            writing = writing or "x" in text_mode or "+" in text_mode
            if mode is None and type_(path) is not int_ and not (plain(path) or "").startswith("/"):
                refuse("os.open", args, "os.open needs an absolute path in the sandbox")
            check_path(event, args, path, writing)
        elif event == "import":
            if plain(args[0]) in disarmed:  # a fresh copy would bring back what _disarm replaced
                refuse(event, args, "this module's unaudited functions are not available to codecs")
            if len_(args) > 1 and args[1] is not None:  # an extension module loaded from a file
                check_native(event, args, args[1])
        elif event == "ctypes.dlopen":
            if args[0] is not None:  # None: `import ctypes` opening the main program; calls are refused
                check_native(event, args, args[0])
        elif event in path_events:
            reads, writes, dir_fds = path_events[event]
            for i in dir_fds:
                if i < len_(args) and args[i] is not None and args[i] != -1:
                    refuse(event, args, "dir_fd arguments are not allowed in the sandbox")
            for i in reads:
                if i < len_(args):
                    check_path(event, args, args[i], False)
            for i in writes:
                if i < len_(args):
                    check_path(event, args, args[i], True)
            if event == "os.symlink":  # the link's target, which is relative to the link's folder
                target, link = plain(args[0]), plain(args[1])
                if target is not None and not target.startswith("/"):
                    target = link.rpartition("/")[0] + "/" + target if "/" in link else target
                check_path(event, args, target, True)
        else:
            refuse(event, args, why(event))

    sys.addaudithook(hook)


def _disarm() -> None:
    """Replace the process, shared-memory, device and signal primitives that raise no audit event.

    Each replacement raises the audit event "<module>.<function>", which the hook refuses. Fresh
    copies of these modules are refused by the hook ("import" event) or by the guarded
    _imp.create_builtin, so the originals stay out of reach of Python code.
    """
    import _imp
    import importlib.machinery
    import signal

    audit, create_builtin, module_spec = sys.audit, _imp.create_builtin, importlib.machinery.ModuleSpec
    for module_name, names in DISARMED.items():
        module = __import__(module_name)
        for name in names:
            event = f"{module_name}.{name}"
            setattr(module, name, lambda *args, _event=event, **kwargs: audit(_event, *args[:2]))
    os.mknod, signal.pidfd_send_signal = sys.modules["posix"].mknod, sys.modules["_signal"].pidfd_send_signal
    disarmed = frozenset(DISARMED)

    def guarded_create_builtin(spec):
        name = "".join((spec.name,))
        if name in disarmed:
            audit("_imp.create_builtin", name)
        return create_builtin(module_spec(name, None, origin="built-in"))

    _imp.create_builtin = guarded_create_builtin


def _why(event: str) -> str:
    """Why an event outside the allowlist is refused, in words a codec author can act on."""
    reasons = (
        (
            (
                "socket.",
                "http.",
                "urllib.",
                "ftplib.",
                "smtplib.",
                "poplib.",
                "imaplib.",
                "nntplib.",
                "telnetlib.",
                "webbrowser.",
            ),
            "the sandbox has no network",
        ),
        (("_posixshmem.",), "a codec may not use shared memory"),
        (("posix.mknod",), "a codec may not create device nodes"),
        (
            (
                "subprocess.",
                "_posixsubprocess.",
                "_signal.",
                "os.system",
                "os.exec",
                "os.posix_spawn",
                "os.spawn",
                "os.fork",
                "os.forkpty",
                "pty.",
                "os.kill",
                "os.killpg",
            ),
            "a codec may not start or signal processes",
        ),
        (("ctypes.",), "a codec may not call native code through ctypes"),
        (("gc.get_",), "a codec may not walk the interpreter's objects"),
        (("_imp.",), "a codec may not create fresh copies of built-in modules"),
        (("sys.addaudithook",), "a codec may not install audit hooks"),
    )
    for prefixes, why in reasons:
        if event.startswith(prefixes):
            return why
    return "this operation is not allowed in the sandbox"


def _non_dumpable() -> None:
    """prctl(PR_SET_DUMPABLE, 0): no core dumps, and /proc/<pid>/mem closed to other processes."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)


def _report(status_fd: int, reason: str) -> None:
    try:
        os.write(status_fd, (json.dumps({"reason": reason}) + "\n").encode())
    except OSError:
        pass


def _traceback_text(exc: BaseException, workdir: str, codec_file: str) -> str:
    """The exception's traceback without the sandbox's own frames, paths shown relative to workdir and
    the module shown as `codec_file`, the name the researcher knows it by."""
    import traceback

    te = traceback.TracebackException.from_exception(exc)
    link = te
    while link is not None:
        frames = [f for f in link.stack if f.filename not in ("<string>",) and not f.filename.startswith("<frozen")]
        for f in frames:
            f.filename = _shown_path(f.filename, workdir, codec_file)
        link.stack = traceback.StackSummary.from_list(frames)
        if getattr(link, "filename", None):
            link.filename = _shown_path(link.filename, workdir, codec_file)
        link = link.__cause__ or (None if link.__suppress_context__ else link.__context__)
    lines = "".join(te.format()).rstrip().splitlines()
    text = "\n".join(lines[-30:])
    return text if len(text) <= 4000 else "..." + text[-3997:]


def _shown_path(path: str, workdir: str, codec_file: str) -> str:
    relative = path.replace(workdir + "/", "")
    return codec_file if relative == CODEC_NAME else relative


def _failure_text(exc: BaseException, where: str, cfg: dict) -> str:
    tb = _traceback_text(exc, cfg["workdir"], cfg.get("codec_file", CODEC_NAME))
    if isinstance(exc, MemoryError) or "can't allocate memory" in str(exc):
        return f"out of memory {where} (the memory limit is {cfg['memory_limit']}):\n{tb}"
    if isinstance(exc, SystemExit):
        return f"the codec called sys.exit({exc.code!r}) {where}"
    return f"exception {where}:\n{tb}"


def _load_codec(workdir: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location("codec", workdir + "/" + CODEC_NAME)
    module = importlib.util.module_from_spec(spec)
    sys.modules["codec"] = module
    spec.loader.exec_module(module)
    return module


def _start_cuda(memory_limit: str) -> str | None:
    """Import torch and create its CUDA context, so neither counts as codec time; why not, if it cannot."""
    try:
        import torch

        if not torch.cuda.is_available():
            return f"this job's device is cuda, but torch {torch.__version__} finds no CUDA device"
        torch.zeros(1, device="cuda")
    except Exception as exc:  # noqa: BLE001 - whatever stops CUDA is the job's failure, said in words
        hint = ""
        if "RLIMIT_AS" in memory_limit:
            hint = (
                f" (the memory limit is {memory_limit}: CUDA reserves far more address space than it uses, "
                "so it needs a per-run cgroup, i.e. a root lab on cgroup v2, or a larger memory limit)"
            )
        return f"this job's device is cuda, but CUDA could not start: {type(exc).__name__}: {exc}{hint}"
    return None


def _write_new(path: str, writer) -> None:
    """Write a fresh regular file at path, replacing whatever the codec may have put there."""
    if os.path.lexists(path):
        os.unlink(path)
    with open(path, "xb") as f:
        writer(f)


def _check_bytes(result) -> str | None:
    """Why encode's return value breaks the contract, or None when it is bytes."""
    if type(result) is not bytes:
        return f"encode returned {type(result).__name__}; the contract requires bytes"
    return None


def _check_planes(result) -> str | None:
    """Why decode's return value breaks the contract, or None when it is three uint8 3-D arrays."""
    import numpy as np

    if not isinstance(result, (tuple, list)) or len(result) != 3:
        what = type(result).__name__
        what = f"a {what} of length {len(result)}" if isinstance(result, (tuple, list)) else what
        return f"decode returned {what}; the contract requires a tuple (y, u, v) of three numpy arrays"
    for name, plane in zip("yuv", result):
        if not isinstance(plane, np.ndarray):
            kind = f"{type(plane).__module__}.{type(plane).__name__}"
            return f"decode returned {kind} for plane {name}; expected a numpy.ndarray"
        if plane.dtype != np.uint8:
            return f"decode returned plane {name} as {plane.dtype}; expected uint8"
        if plane.ndim != 3:
            return f"decode returned plane {name} with {plane.ndim} dimensions {plane.shape}; expected 3 ([T, H, W])"
    return None


def main() -> int:
    cfg = json.loads(sys.argv[1])
    stage, workdir, status_fd = cfg["stage"], cfg["workdir"], cfg["status_fd"]
    sys.path.extend(cfg["site_dirs"])
    _non_dumpable()
    _disarm()
    _install_guard(cfg)

    import numpy as np

    if stage == "encode":
        planes = [np.load(f"{workdir}/{name}.npy", allow_pickle=False) for name in "yuv"]
    elif stage == "decode":
        with open(f"{workdir}/bitstream.bin", "rb") as f:
            bitstream = f.read()
    device = cfg.get("device", "cpu")
    if device == "cuda":
        problem = _start_cuda(cfg["memory_limit"])
        if problem:
            _report(status_fd, problem)
            return FAILED
    os.write(status_fd, b"R")
    if stage == "probe":
        return 0

    where = f"while importing {cfg.get('codec_file', CODEC_NAME)}"
    try:
        codec = _load_codec(workdir)
        codec.DEVICE = device
        where = f"in {stage}"
        if stage == "encode":
            result = codec.encode(planes[0], planes[1], planes[2], cfg["fps"], cfg["quality"])
        else:
            result = codec.decode(bitstream)
    except BaseException as exc:  # noqa: BLE001 - every failure of the codec is reported, none escapes
        _report(status_fd, _failure_text(exc, where, cfg))
        return FAILED

    problem = _check_bytes(result) if stage == "encode" else _check_planes(result)
    if problem:
        _report(status_fd, problem)
        return FAILED if stage == "encode" else BROKE_CONTRACT
    try:
        if stage == "encode":
            _write_new(f"{workdir}/bitstream.bin", lambda f: f.write(result))
        else:
            for name, plane in zip("yuv", result):
                array = np.ascontiguousarray(plane)
                _write_new(f"{workdir}/{name}.npy", lambda f, a=array: np.save(f, a, allow_pickle=False))
    except OSError as exc:
        limit = f" (the file-size limit is {cfg['file_mb']} MB)" if exc.errno == errno.EFBIG else ""
        _report(status_fd, f"the {stage} output could not be written: {exc}{limit}")
        return FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
