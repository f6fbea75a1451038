"""The sandbox: legitimate codecs run (numpy and torch), hostile ones are contained with a clear reason.

Each hostile codec is a module in tests/adversarial/ that honours the contract and differs from a
plain codec only by its attack. The refusal tests run three times: with the strongest isolation
this machine allows, under bubblewrap (what a non-root lab gets), and with the audit hook as the
only barrier (the weak fallback), so each layer is shown to hold on its own. Native reads, which
no audit hook sees, are shown to find nothing in both full views (root jail and bwrap);
tests/test_sandbox_unprivileged.py runs the key ones again as an unprivileged user.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from hostile_codecs import codec, embedded_codec, replayed_noisy_static
from clip_helpers import TEST_SECRET

import aiv
from aiv.codec import isolation as iso
from aiv.codec import sandbox
from aiv.codec import view as view_module
from aiv.codec.policy import MAX_SOURCE_BYTES, PolicyViolation, check_policy
from aiv.codec.sandbox import Limits, run_decode, run_encode
from aiv.codec.view import View, bwrap_arguments, codec_view
from aiv.commands.common import default_cache_dir
from aiv.errors import CodecFailure
from aiv.video.corpus import builtin_clip

HOSTILE = Limits(timeout_s=20)  # hostile codecs fail at once; the bound only matters if one is not stopped
TORCH = Limits(timeout_s=120)  # importing torch takes seconds on a busy machine
SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "aws-secret-5d1c",
    "ANTHROPIC_API_KEY": "sk-ant-secret-77",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc",
    "ECS_CONTAINER_METADATA_URI": "http://x",
}


@pytest.fixture(scope="module")
def planes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 256, (2, 16, 16), dtype=np.uint8)
    return y, rng.integers(0, 256, (2, 8, 8), dtype=np.uint8), rng.integers(0, 256, (2, 8, 8), dtype=np.uint8)


@pytest.fixture(autouse=True)
def sandbox_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Work directories go into a folder of this test's own, which must be empty again afterwards."""
    tmp_path_factory.getbasetemp()  # settle pytest's own temporary folder before tempfile is redirected
    folder = Path(tempfile.mkdtemp(prefix="aiv-test-sandboxes-"))
    folder.chmod(0o711)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    left = list(folder.iterdir())
    shutil.rmtree(folder)
    assert left == [], f"work directories were not removed: {left}"


BWRAP = iso.Isolation(False, False, True, bwrap=True)


@functools.cache
def bwrap_unavailable() -> str | None:
    """Why bubblewrap cannot run a child on this machine, or None when it can."""
    try:
        sandbox._probe(BWRAP)
    except iso.SandboxError as exc:
        return str(exc)
    return None


def use_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run this test's children under bwrap, as a non-root lab does (skip where bwrap cannot run)."""
    if bwrap_unavailable():
        pytest.skip(f"bwrap cannot run here: {bwrap_unavailable()}")
    monkeypatch.setattr(sandbox, "_isolation", lambda: BWRAP)


@pytest.fixture(params=["strongest", "bwrap", "audit hook only"])
def isolation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "bwrap":
        use_bwrap(monkeypatch)
    if request.param == "audit hook only":
        monkeypatch.setattr(sandbox, "_isolation", lambda: iso.Isolation(False, False, False))
    return request.param


@pytest.fixture(params=["root jail", "bwrap"])
def full_view(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each way of giving a child the codec view: the root jail (when this machine has it) and bwrap."""
    if request.param == "bwrap":
        use_bwrap(monkeypatch)
    elif sandbox.isolation_report()["isolation"] != iso.ROOT_JAIL:
        pytest.skip(f"no root jail here: {sandbox.isolation_report()['weakened']}")
    return request.param


@pytest.fixture
def run_uids(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The per-run uids the sandbox hands out during a test (none without uid isolation)."""
    sandbox._isolation()  # probe first: its uids are not the test's
    claimed: list[int] = []
    claim = sandbox.claim_uid

    def recording() -> int:
        claimed.append(claim())
        return claimed[-1]

    monkeypatch.setattr(sandbox, "claim_uid", recording)
    return claimed


def round_trip(source: str, planes, limits: Limits = HOSTILE) -> CodecFailure:
    """The CodecFailure that encoding then decoding with `source` ends in."""
    with pytest.raises(CodecFailure) as failure:
        encoded = run_encode(source, *planes, 25.0, 0.5, limits)
        run_decode(source, encoded.bitstream, limits)
    return failure.value


def test_isolation_report_says_what_is_active() -> None:
    report = sandbox.isolation_report()
    assert json.loads(json.dumps(report)) == report
    assert report["audit_hook"] is True
    assert report["isolation"] in (iso.ROOT_JAIL, iso.BWRAP, iso.AUDIT_HOOK_ONLY)
    assert report["full_view"] == (report["isolation"] != iso.AUDIT_HOOK_ONLY)
    assert (sandbox.weak_sandbox_reason() is None) == report["full_view"]
    if report["full_view"]:  # what the codec could see of site-packages is on the record
        assert {"numpy", "torch", "cv2"} <= set(report["view_packages"])
        assert not {"skimage", "av", "imageio_ffmpeg"} & set(report["view_packages"])
    if os.geteuid() == 0 and not report["weakened"]:
        assert report["uid_drop"] and report["filesystem_jail"] and report["network_namespace"]
        assert report["kill_after_run"] == "every process of the per-run uid"
    if not report["uid_drop"]:
        assert report["weakened"], "a weaker sandbox must say why"


def test_well_behaved_codec_round_trips_exactly(planes) -> None:
    source = codec("well_behaved")
    encoded = run_encode(source, *planes, 25.0, 0.5)
    decoded = run_decode(source, encoded.bitstream)
    for got, want in zip((decoded.y, decoded.u, decoded.v), planes):
        np.testing.assert_array_equal(got, want)
    assert encoded.seconds > 0 and decoded.seconds > 0


def test_torch_codec_runs_under_the_default_memory_limit(planes) -> None:
    source = codec("torch_codec")
    limits = Limits(timeout_s=TORCH.timeout_s)  # default memory_mb: torch must fit in it
    decoded = run_decode(source, run_encode(source, *planes, 25.0, 0.5, limits).bitstream, limits)
    for got, want in zip((decoded.y, decoded.u, decoded.v), planes):
        np.testing.assert_array_equal(got, want)


DEVICE_ECHO = """import numpy as np

DEVICE = "unset"


def encode(y, u, v, fps, quality):
    return DEVICE.encode()


def decode(bitstream):
    z = np.full((1, 2, 2), len(bitstream), np.uint8)
    return z, z[:, :1, :1].copy(), z[:, :1, :1].copy()
"""


def test_the_codec_is_told_its_device(planes) -> None:
    assert run_encode(DEVICE_ECHO, *planes, 25.0, 0.5).bitstream == b"cpu"
    assert run_decode(DEVICE_ECHO, b"cpu").y[0, 0, 0] == 3
    with pytest.raises(ValueError, match="device must be one of cpu, cuda, got 'tpu'"):
        run_encode(DEVICE_ECHO, *planes, 25.0, 0.5, device="tpu")


@pytest.mark.skipif(find_spec("torch") is None, reason="torch is not installed")
def test_a_cuda_job_without_a_cuda_device_fails_before_the_codec_runs(planes) -> None:
    import torch

    if torch.cuda.is_available():
        assert run_encode(DEVICE_ECHO, *planes, 25.0, 0.5, device="cuda").bitstream == b"cuda"
        return
    for run in (
        lambda: run_encode(DEVICE_ECHO, *planes, 25.0, 0.5, device="cuda"),
        lambda: run_decode(DEVICE_ECHO, b"cuda", device="cuda"),
    ):
        with pytest.raises(
            iso.SandboxError, match="before the codec ran.*device is cuda, but torch .* finds no CUDA device"
        ):
            run()


def test_import_time_work_counts_as_codec_time(planes) -> None:
    # Not a speed test: the codec sleeps 0.5 s at import, and that time must be on the clock.
    assert run_encode(codec("import_time_work"), *planes, 25.0, 0.5).seconds >= 0.5


def test_output_flood_does_not_block_the_harness(planes) -> None:
    source = codec("print_flood")
    assert run_encode(source, *planes, 25.0, 0.5, HOSTILE).bitstream


def test_credentials_are_not_inherited(planes, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    bitstream = run_encode(codec("environment"), *planes, 25.0, 0.5).bitstream
    seen = json.loads(bitstream.split(b"\0", 1)[0])
    assert not any(value in bitstream.decode("latin-1") for value in SECRETS.values())
    assert set(seen) <= set(sandbox._environment(Path(seen["HOME"])))
    assert not Path(seen["HOME"]).exists(), "the encoder's working directory outlived the encode"


REFUSED = [
    ("read_passwd", "encode", "refused: open('/etc/passwd'"),
    ("find_source", "decode", "refused: os.walk('/tmp'"),
    ("stash_tmp", "encode", "refused: open('/tmp/aiv-stash.npz'"),
    ("stash_shm", "encode", "refused: _posixshmem.shm_open('/aiv-stash'"),
    ("network", "encode", "refused: socket."),
    ("subprocess_spawn", "encode", "refused: subprocess.Popen('sh'"),
    ("fork_exec", "encode", "refused: _posixsubprocess.fork_exec("),
    ("daemon", "encode", "refused: os.fork()"),
    ("fork_bomb", "encode", "refused: os.fork()"),
    ("write_outside", "encode", "writing outside the working directory"),
    ("write_repo", "encode", "refused: open('/work/main/aiv/codec/pwned.py'"),
    ("symlink_output", "encode", "refused: os.symlink('/etc/shadow'"),
    ("parent_environ", "encode", "/environ"),
    ("parent_memory", "encode", "/mem"),
    ("signal_parent", "encode", "refused: os.kill("),
    ("ctypes_libc", "encode", "refused: ctypes.dlopen('libc.so.6')"),
    ("ctypes_self", "encode", "refused: ctypes.dlsym("),
    ("native_extension", "encode", "refused: import('_bisect', 'payload.so'"),
    ("monkeypatch_guard", "encode", "refused: open('/etc/hostname'"),
    ("gc_walk", "encode", "refused: gc.get_objects("),
]


@pytest.mark.parametrize(("name", "stage", "expected"), REFUSED, ids=[r[0] for r in REFUSED])
def test_hostile_codec_is_refused(
    name: str, stage: str, expected: str, isolation: str, planes, run_uids: list[int]
) -> None:
    failure = round_trip(codec(name), planes)
    assert failure.stage == stage
    assert failure.reason.startswith("refused: ") and expected in failure.reason, failure.reason
    assert "(at codec.py line " in failure.reason
    for trace in ("/tmp/aiv-stash.npz", "/tmp/aiv-pwned", "/work/main/aiv/codec/pwned.py", "/dev/shm/aiv-stash"):
        assert not Path(trace).exists(), f"{name} left {trace} behind"
    if isolation == "strongest" and sandbox.isolation_report()["uid_drop"]:
        assert len(run_uids) == (1 if stage == "encode" else 2)  # one fresh uid per process
    for uid in run_uids:
        assert iso._processes_of(uid) == [], f"a process of run uid {uid} outlived the run"


def processes_started_in(folder: Path) -> list[int]:
    """Live processes whose command line names `folder` (every sandboxed child's does: its working directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(folder).encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_infinite_loop_times_out(isolation: str, planes, sandbox_tmp: Path) -> None:
    failure = round_trip(codec("infinite_loop"), planes, Limits(timeout_s=3))
    assert failure.stage == "encode"
    assert failure.reason.startswith("timeout: no result after 3 s")
    for _ in range(50):  # the kill is immediate; a pid namespace's teardown may take a moment
        if not processes_started_in(sandbox_tmp):
            break
        time.sleep(0.1)
    assert processes_started_in(sandbox_tmp) == [], "the timed-out child outlived its run"


def test_memory_hog_hits_the_memory_limit(planes) -> None:
    failure = round_trip(codec("memory_hog"), planes)
    assert failure.reason.startswith("out of memory in encode (the memory limit is 4096 MB of "), failure.reason


def test_huge_file_hits_the_file_size_limit(planes) -> None:
    failure = round_trip(codec("huge_file"), planes, Limits(timeout_s=20, file_mb=8))
    assert "OSError: [Errno 27] File too large" in failure.reason, failure.reason


def test_filling_the_working_directory_is_stopped(planes) -> None:
    failure = round_trip(codec("fill_workdir"), planes, Limits(timeout_s=20, file_mb=8))
    assert failure.reason == "wrote more than 8 MB into its working directory; the process was killed"


def test_oversized_bitstream_is_refused(planes) -> None:
    failure = round_trip(codec("huge_bitstream"), planes)
    raw = sum(p.nbytes for p in planes)
    assert failure.reason.startswith("output too large: bitstream.bin has ")
    assert failure.reason.endswith(f"the limit is {8 * raw}")


@pytest.mark.parametrize(
    ("name", "stage", "expected"),
    [
        ("encode_returns_str", "encode", "encode returned str; the contract requires bytes"),
        ("decode_float", "check", "decode returned plane y as float32; expected uint8"),
        ("decode_2d", "check", "decode returned plane y with 2 dimensions (16, 16); expected 3"),
        ("decode_two_planes", "check", "decode returned a tuple of length 2"),
    ],
)
def test_wrong_return_types_are_named(name: str, stage: str, expected: str, planes) -> None:
    failure = round_trip(codec(name), planes)
    assert failure.stage == stage
    assert failure.reason.startswith(expected), failure.reason


def test_wrong_shapes_are_left_to_the_evaluator(planes) -> None:
    source = codec("decode_wrong_shape")
    decoded = run_decode(source, run_encode(source, *planes, 25.0, 0.5).bitstream)
    assert decoded.y.shape == (2, 14, 16) and decoded.y.dtype == np.uint8


def test_import_error_reports_the_codec_traceback_only(planes) -> None:
    failure = round_trip(codec("raises_at_import"), planes)
    assert failure.stage == "encode"
    assert failure.reason.startswith("exception while importing codec.py:\nTraceback (most recent call last):")
    assert 'File "codec.py", line 5, in <module>' in failure.reason
    assert failure.reason.endswith("IndexError: index 7 is out of bounds for axis 0 with size 4")
    assert "<string>" not in failure.reason and "importlib" not in failure.reason


def test_tracebacks_and_refusals_name_the_researchers_file(planes) -> None:
    with pytest.raises(CodecFailure) as failure:
        run_encode(codec("raises_at_import"), *planes, 25.0, 0.5, HOSTILE, codec_file="my_codec.py")
    assert failure.value.reason.startswith("exception while importing my_codec.py:\n")
    assert (
        'File "my_codec.py", line 5, in <module>' in failure.value.reason
        and "codec.py" not in failure.value.reason.replace("my_codec.py", "")
    )
    with pytest.raises(CodecFailure) as failure:
        run_encode(codec("read_passwd"), *planes, 25.0, 0.5, HOSTILE, codec_file="my_codec.py")
    assert "(at my_codec.py line " in failure.value.reason


CLIPS = Path(__file__).resolve().parents[2] / "shared" / "clips"
REPO = Path(aiv.__file__).resolve().parents[1]
CHELSEA = Path(find_spec("skimage").origin).parent / "data" / "chelsea.png"


@contextmanager
def secret_file(where: Path) -> Iterator[Path]:
    """A world-readable file in a new folder under `where`, removed afterwards."""
    where.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="aiv-secret-", dir=where))
    try:
        folder.chmod(0o755)
        secret = folder / "secret.bin"
        secret.write_text("the source clip!")
        secret.chmod(0o644)
        yield secret
    finally:
        shutil.rmtree(folder)


@contextmanager
def native_read_target(target: str) -> Iterator[Path]:
    """A readable file the lab holds that no codec may see: package data, /etc, the cache, a store, a clip..."""
    if target in ("a file in /tmp", "the anchor cache", "a store"):
        where = {
            "a file in /tmp": Path("/tmp"),
            "the anchor cache": default_cache_dir(),
            "a store": REPO / "lab-test-stores",
        }[target]
        with secret_file(where) as secret:
            yield secret
        if target == "a store" and not any(where.iterdir()):
            where.rmdir()
        return
    if target == "a real clip":
        clips = sorted(CLIPS.glob("*.mp4")) if CLIPS.is_dir() else []
        if not clips:
            pytest.skip(f"no clips in {CLIPS}")
        yield clips[0]
        return
    yield {
        "site-packages data": CHELSEA,
        "/etc/passwd": Path("/etc/passwd"),
        "the lab's source": REPO / "aiv" / "video" / "corpus.py",
    }[target]


NATIVE_READ_TARGETS = [
    "site-packages data",
    "/etc/passwd",
    "the lab's source",
    "the anchor cache",
    "a store",
    "a file in /tmp",
    "a real clip",
]


@pytest.mark.parametrize("target", NATIVE_READ_TARGETS)
def test_native_file_reads_find_nothing_in_the_view(target: str, full_view: str, planes) -> None:
    """torch.from_file reads in C++, unseen by the audit hook: only the view stops it."""
    with native_read_target(target) as secret:
        content = secret.read_bytes()[:16].decode("latin-1")
        failure = round_trip(codec("native_read").replace("SECRET_PATH", str(secret)), planes, TORCH)
    assert failure.stage == "decode"
    assert "No such file or directory" in failure.reason and content not in failure.reason, failure.reason


NATIVE_READERS = [
    ("numpy.fromfile", "site-packages data"),
    ("cv2.imread", "site-packages data"),
    ("cv2.VideoCapture", "a real clip"),
]


def native_reader_codec(reader: str, secret: Path) -> str:
    return codec("native_readers").replace("READER_NAME", reader).replace("SECRET_PATH", str(secret))


@pytest.mark.parametrize(("reader", "target"), NATIVE_READERS, ids=[r for r, _ in NATIVE_READERS])
def test_numpy_and_opencv_readers_find_nothing_in_the_view(reader: str, target: str, full_view: str, planes) -> None:
    with native_read_target(target) as secret:
        failure = round_trip(native_reader_codec(reader, secret), planes, TORCH)
    assert failure.stage == "decode"
    assert "FileNotFoundError" in failure.reason and "read: " not in failure.reason, failure.reason


@pytest.mark.parametrize(("reader", "target"), NATIVE_READERS, ids=[r for r, _ in NATIVE_READERS])
def test_numpy_and_opencv_readers_do_read_without_the_view(
    reader: str, target: str, planes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: the same codecs read the file when the whole filesystem is in view (the audit hook alone)."""
    monkeypatch.setattr(sandbox, "_isolation", lambda: iso.Isolation(False, False, False))
    with native_read_target(target) as secret:
        failure = round_trip(native_reader_codec(reader, secret), planes, TORCH)
    assert failure.stage == "decode" and "RuntimeError: read: " in failure.reason, failure.reason


@pytest.fixture(scope="module")
def noisy_static() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return replayed_noisy_static(2)


def test_rebuilding_a_corpus_clip_from_package_files_works_without_the_view(
    noisy_static, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack is real: with the whole filesystem in view, 2 bytes give back noisy_static exactly."""
    monkeypatch.setattr(sandbox, "_isolation", lambda: iso.Isolation(False, False, False))
    source = codec("rebuild_corpus")
    encoded = run_encode(source, *noisy_static, 30.0, 0.5, TORCH)
    decoded = run_decode(source, encoded.bitstream, TORCH)
    assert len(encoded.bitstream) == 2
    for got, want in zip((decoded.y, decoded.u, decoded.v), noisy_static):
        np.testing.assert_array_equal(got, want)


def test_the_secret_rendered_corpus_is_not_what_the_replay_gives(noisy_static) -> None:
    """The second barrier: the built-in corpus is drawn from a per-store secret, so a replay of fixed seeds misses it."""
    clip = builtin_clip("noisy_static", frames=2, secret=TEST_SECRET)
    assert clip.y.shape == noisy_static[0].shape
    assert float(np.abs(clip.y.astype(np.int16) - noisy_static[0]).mean()) > 5.0


def test_rebuilding_a_corpus_clip_finds_no_package_files_in_the_view(noisy_static, full_view: str) -> None:
    failure = round_trip(codec("rebuild_corpus"), noisy_static, TORCH)
    assert failure.stage == "decode"
    assert f"No such file or directory: '{CHELSEA}'" in failure.reason, failure.reason


def test_data_embedded_up_to_the_module_size_limit_stays_in_the_module(full_view: str, planes) -> None:
    source = embedded_codec(MAX_SOURCE_BYTES)
    assert len(source.encode()) == MAX_SOURCE_BYTES
    check_policy(source)
    with pytest.raises(PolicyViolation, match=f"the limit is {MAX_SOURCE_BYTES}"):
        check_policy(embedded_codec(MAX_SOURCE_BYTES + 1))
    decoded = run_decode(source, run_encode(source, *planes, 25.0, 0.5).bitstream)
    for got, want in zip((decoded.y, decoded.u, decoded.v), planes):
        np.testing.assert_array_equal(got, want)


def inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def test_the_view_holds_only_what_a_codec_may_use() -> None:
    view = codec_view()
    site_entries = {
        Path(p).name.split("-")[0].split(".")[0] for p in [*view.read_only, *view.in_hidden] if "-packages/" in p
    }
    assert {"numpy", "torch", "cv2"} <= site_entries
    assert not site_entries & {
        "skimage",
        "scikit_image",
        "av",
        "imageio",
        "imageio_ffmpeg",
        "aiv",
        "PIL",
        "scipy",
        "boto3",
        "anthropic",
        "pytest",
        "__editable__",
    }, site_entries
    everything = [*view.read_only, *view.in_hidden, *(link for link, _ in view.symlinks)]
    assert [p for p in everything if p.startswith("/etc")] == ["/etc/ld.so.cache"]
    allowed = (*view.site_dirs, *iso.install_prefixes(), iso.interpreter())
    for outside in (REPO, CLIPS, default_cache_dir(), Path.home()):
        real = os.path.realpath(outside)
        leaks = [
            p
            for p in everything
            if inside(p, real) and not any(inside(p, a) for a in allowed) and ".so" not in Path(p).name
        ]  # shared libraries the interpreter loads are code, not data
        assert leaks == [], f"the view holds {leaks} from {outside}"
    args = bwrap_arguments(view, "/tmp/work")
    assert args[:5] == ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    assert [args[i + 1] for i, a in enumerate(args) if a == "--ro-bind"] == [*view.read_only, *view.in_hidden, "/sys"]


@pytest.mark.skipif(os.geteuid() != 0, reason="per-run uids need root")
def test_every_process_of_a_run_uid_is_killed() -> None:
    uid = iso.claim_uid()
    try:
        sleeper = subprocess.Popen(["sleep", "300"], user=uid, group=uid, extra_groups=[], start_new_session=True)
        subprocess.run(
            ["sh", "-c", "setsid sleep 300 >/dev/null 2>&1 &"], user=uid, group=uid, extra_groups=[], check=True
        )  # a daemon: new session, parent gone
        assert len(iso._processes_of(uid)) >= 2
        iso.kill_uid(uid)
        sleeper.wait(timeout=10)
        assert iso._processes_of(uid) == []
    finally:
        iso.release_uid(uid)


def test_outputs_must_be_plain_files_of_bounded_size(tmp_path: Path) -> None:
    (tmp_path / "link.bin").symlink_to("/etc/hostname")
    os.mkfifo(tmp_path / "fifo.bin")
    (tmp_path / "big.bin").write_bytes(bytes(101))
    with pytest.raises(CodecFailure, match="link.bin cannot be read as a plain file"):
        sandbox._read_output("encode", tmp_path / "link.bin", 100, None)
    with pytest.raises(CodecFailure, match="fifo.bin is not a regular file"):
        sandbox._read_output("encode", tmp_path / "fifo.bin", 100, None)
    with pytest.raises(CodecFailure, match="output too large: big.bin has 101 bytes, the limit is 100"):
        sandbox._read_output("encode", tmp_path / "big.bin", 100, None)
    with pytest.raises(CodecFailure, match="big.bin was not written by the codec's own process"):
        sandbox._read_output("encode", tmp_path / "big.bin", 1000, os.getuid() + 1)


def test_plane_files_are_checked_before_they_are_loaded(tmp_path: Path) -> None:
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1, 1), np.uint8))
    header["shape"] = (10**6, 10**6, 10**6)  # claims an exabyte, holds ten bytes
    with open(tmp_path / "y.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(bytes(10))
    np.save(tmp_path / "u.npy", np.zeros((1, 2, 2), np.float32))
    np.save(tmp_path / "v.npy", np.zeros((1, 2, 2), np.uint8))
    for name in ("y", "u"):
        with pytest.raises(CodecFailure, match=f"{name}.npy does not hold a complete uint8 array of 3 dimensions"):
            sandbox._read_plane(tmp_path / f"{name}.npy", 1 << 20, None)
    assert sandbox._read_plane(tmp_path / "v.npy", 1 << 20, None).shape == (1, 2, 2)


def test_packages_inside_a_hidden_folder_are_bound_again_once_it_is_covered() -> None:
    """A conda-style installation: site-packages inside the stdlib is covered, then numpy bound over it."""
    site = "/opt/py/lib/python3.11/site-packages"
    layout = View(
        read_only=("/opt/py/lib/python3.11",),
        symlinks=(),
        hidden=(site,),
        in_hidden=(f"{site}/numpy",),
        devices=(),
        site_dirs=(site,),
    )
    args = bwrap_arguments(layout, "/tmp/work")
    assert args.index("--tmpfs") > args.index("/opt/py/lib/python3.11")
    assert args.index(f"{site}/numpy") > args.index("--tmpfs")
    assert args.index("--remount-ro") > args.index(f"{site}/numpy")


def test_symlinks_on_the_way_to_a_library_are_recreated(tmp_path: Path) -> None:
    (tmp_path / "usr" / "lib").mkdir(parents=True)
    (tmp_path / "usr" / "lib" / "libz.so.1.2").write_bytes(b"\x7fELF")
    (tmp_path / "usr" / "lib" / "libz.so.1").symlink_to("libz.so.1.2")
    (tmp_path / "lib").symlink_to("usr/lib")
    links: dict[str, str] = {}
    real = view_module._follow(f"{tmp_path}/lib/libz.so.1", links)
    assert real == f"{tmp_path}/usr/lib/libz.so.1.2"
    assert links == {f"{tmp_path}/lib": "usr/lib", f"{tmp_path}/usr/lib/libz.so.1": "libz.so.1.2"}


def test_a_covered_site_packages_keeps_only_the_allowed_packages(
    full_view: str, noisy_static, planes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in a conda image, where site-packages lies inside the stdlib: bound whole, covered, the allowed bound again."""
    real = codec_view()
    site = real.site_dirs[0]
    packages = tuple(p for p in real.read_only if p.startswith(site + "/"))
    covered = dataclasses.replace(
        real, read_only=(*[p for p in real.read_only if p not in packages], site), hidden=(site,), in_hidden=packages
    )
    monkeypatch.setattr(iso, "codec_view", lambda: covered)
    source = codec("torch_codec")
    decoded = run_decode(source, run_encode(source, *planes, 25.0, 0.5, TORCH).bitstream, TORCH)
    np.testing.assert_array_equal(decoded.y, planes[0])
    failure = round_trip(codec("rebuild_corpus"), noisy_static, TORCH)
    assert f"No such file or directory: '{CHELSEA}'" in failure.reason, failure.reason
