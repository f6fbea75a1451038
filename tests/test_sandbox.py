"""The sandbox: legitimate codecs run (numpy and torch), hostile ones are contained with a clear reason.

Each hostile codec is a module in tests/adversarial/ that honours the contract and differs from a
plain codec only by its attack. The refusal tests run twice: with the strongest isolation this
machine allows, and with the audit hook as the only barrier (what a non-root lab gets), so each
layer is shown to hold on its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from aiv.codec import isolation as iso
from aiv.codec import sandbox
from aiv.codec.sandbox import Limits, run_decode, run_encode
from aiv.errors import CodecFailure

ADVERSARIAL = Path(__file__).parent / "adversarial"
HOSTILE = Limits(timeout_s=20)  # hostile codecs fail at once; the bound only matters if one is not stopped
TORCH = Limits(timeout_s=120)  # importing torch takes seconds on a busy machine
SECRETS = {"AWS_SECRET_ACCESS_KEY": "aws-secret-5d1c", "ANTHROPIC_API_KEY": "sk-ant-secret-77",
           "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc", "ECS_CONTAINER_METADATA_URI": "http://x"}


def codec(name: str) -> str:
    """A hostile codec's module source, with the shared packing helper appended when it uses it."""
    source = (ADVERSARIAL / f"{name}.py").read_text()
    if "_pack(" in source or "_unpack(" in source:
        source += (ADVERSARIAL / "packing.txt").read_text()
    return source


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


@pytest.fixture(params=["strongest", "audit hook only"])
def isolation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "audit hook only":
        monkeypatch.setattr(sandbox, "_isolation", lambda: iso.Isolation(False, False, False))
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
def test_hostile_codec_is_refused(name: str, stage: str, expected: str, isolation: str, planes,
                                  run_uids: list[int]) -> None:
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


def test_infinite_loop_times_out(planes) -> None:
    failure = round_trip(codec("infinite_loop"), planes, Limits(timeout_s=3))
    assert failure.stage == "encode"
    assert failure.reason.startswith("timeout: no result after 3 s")


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


@pytest.mark.parametrize(("name", "stage", "expected"), [
    ("encode_returns_str", "encode", "encode returned str; the contract requires bytes"),
    ("decode_float", "decode", "decode returned plane y as float32; expected uint8"),
    ("decode_2d", "decode", "decode returned plane y with 2 dimensions (16, 16); expected 3"),
    ("decode_two_planes", "decode", "decode returned a tuple of length 2"),
])
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


CLIPS = Path(__file__).resolve().parents[2] / "shared" / "clips"


@pytest.mark.parametrize("target", ["a file in /tmp", "a real clip"])
def test_native_file_reads_are_contained_by_the_jail(target: str, planes) -> None:
    """torch.from_file reads in C++, unseen by the audit hook: only the mount jail stops it."""
    if not sandbox.isolation_report()["filesystem_jail"]:
        pytest.skip("no mount jail on this machine: native code can read files the lab can read")
    folder = Path(tempfile.mkdtemp(prefix="aiv-secret-", dir="/tmp"))
    try:
        if target == "a real clip":
            clips = sorted(CLIPS.glob("*.mp4")) if CLIPS.is_dir() else []
            if not clips:
                pytest.skip(f"no clips in {CLIPS}")
            secret = clips[0]
        else:
            folder.chmod(0o755)
            secret = folder / "secret.txt"
            secret.write_text("the source clip!")
            secret.chmod(0o644)
        content = secret.read_bytes()[:16].decode("latin-1")
        failure = round_trip(codec("native_read").replace("SECRET_PATH", str(secret)), planes, TORCH)
    finally:
        shutil.rmtree(folder)
    assert failure.stage == "decode"
    assert "No such file or directory" in failure.reason and content not in failure.reason, failure.reason


@pytest.mark.skipif(os.geteuid() != 0, reason="per-run uids need root")
def test_every_process_of_a_run_uid_is_killed() -> None:
    uid = iso.claim_uid()
    try:
        sleeper = subprocess.Popen(["sleep", "300"], user=uid, group=uid, extra_groups=[], start_new_session=True)
        subprocess.run(["sh", "-c", "setsid sleep 300 >/dev/null 2>&1 &"], user=uid, group=uid, extra_groups=[],
                       check=True)  # a daemon: new session, parent gone
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

