"""Expected faults of `aiv evaluate` and `aiv serve`: a clear message on stderr and an exit code, no traceback.

Each case is run through `aiv.cli.main` (an unexpected exception would fail the test); the port in
use is tried on a real process. EXIT_CODES is README.md's table of exit codes for these commands,
and every code in it is produced by a test here.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aiv.cli import main
from aiv.store import open_local_store
from aiv.video.y4m import write_y4m

README = Path(__file__).resolve().parents[1] / "README.md"
REPO = README.parent
EXIT_CODES = {"evaluate": {0, 1, 2, 3, 130}, "serve": {0, 2}, "run": {0, 1, 2, 130}}


def aiv(argv: list, capsys) -> tuple[int, str]:
    """Exit status and stderr of `aiv ARGV`, argparse's own exits included."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_info:
        code = exit_info.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert code in EXIT_CODES[str(argv[0])], f"exit status {code} is not in README.md's table"
    return code, err


@pytest.fixture
def clip(small_clip, tmp_path: Path) -> Path:
    path = tmp_path / "small.y4m"
    write_y4m(path, small_clip)
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    open_local_store(tmp_path / "lab")
    return tmp_path / "lab"


EVALUATE_USAGE = [
    (["--timeout", "nan"], "argument --timeout: takes a number above 0, got 'nan'"),
    (["--timeout", "-1"], "argument --timeout: takes a number above 0, got '-1'"),
    (["--timeout", "soon"], "argument --timeout: takes a number above 0, got 'soon'"),
    (["--memory-mb", "0"], "argument --memory-mb: takes a whole number above 0, got '0'"),
    (["--memory-mb", "4.5"], "argument --memory-mb: takes a whole number above 0, got '4.5'"),
    (["--fps", "0"], "argument --fps: takes a number above 0, got '0'"),
    (["--fps", "-25"], "argument --fps: takes a number above 0, got '-25'"),
    (["--qualities", "0.2,two"], "takes numbers separated by commas"),
    (["--qualities", "0.5,1.5"], "qualities must be in [0, 1]"),
    (["--size", "wide"], "--size takes WIDTHxHEIGHT"),
    (["--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
]


@pytest.mark.parametrize(("options", "message"), EVALUATE_USAGE, ids=[" ".join(c[0]) for c in EVALUATE_USAGE])
def test_evaluate_refuses_a_bad_option_value_with_exit_2(
    options: list, message: str, clip: Path, tmp_path: Path, capsys
) -> None:
    code, err = aiv(["evaluate", "intra", "--clips", clip, "--out", tmp_path / "o", *options], capsys)
    assert code == 2 and message in err, err


def test_evaluate_refuses_more_built_in_frames_than_it_can_render(tmp_path: Path, capsys) -> None:
    code, err = aiv(["evaluate", "intra", "--frames", "99999999999999999999999", "--out", tmp_path / "o"], capsys)
    assert code == 2 and "at most 1000 frames" in err


def test_evaluate_refuses_an_output_folder_it_cannot_create_before_measuring(
    clip: Path, tmp_path: Path, capsys
) -> None:
    (tmp_path / "a_file").write_text("")
    code, err = aiv(["evaluate", "intra", "--clips", clip, "--out", tmp_path / "a_file" / "o"], capsys)
    assert code == 2 and "cannot create the output folder" in err and "Not a directory" in err


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("binary.py", b"\xff\xfe\x00codec", "cannot be read"),
        ("folder.py", None, "does not exist"),
    ],
)
def test_evaluate_refuses_a_codec_file_it_cannot_read(
    name: str, content: bytes | None, message: str, clip: Path, tmp_path: Path, capsys
) -> None:
    codec = tmp_path / name
    codec.write_bytes(content) if content is not None else codec.mkdir()
    code, err = aiv(["evaluate", codec, "--clips", clip, "--out", tmp_path / "o"], capsys)
    assert code == 2 and f"codec file {codec}" in err and message in err, err


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("truncated.y4m", b"YUV4MPEG2 W64 H48 F30:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(100)),
        ("no_header.y4m", b"not a y4m file at all"),
        ("noise.mkv", bytes(range(256)) * 8),
        ("clip.txt", b"text"),
    ],
)
def test_evaluate_refuses_an_unreadable_clip_with_exit_2(name: str, content: bytes, tmp_path: Path, capsys) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code, err = aiv(["evaluate", "intra", "--clips", path, "--out", tmp_path / "o"], capsys)
    assert code == 2 and name in err, err


def test_evaluate_exits_1_when_the_sandbox_cannot_start_the_codec(clip: Path, tmp_path: Path, capsys) -> None:
    # 64 MB is too little for the interpreter and numpy to start: the harness's failure, not the codec's
    code, err = aiv(
        [
            "evaluate",
            "intra",
            "--clips",
            clip,
            "--out",
            tmp_path / "o",
            "--quiet",
            "--memory-mb",
            "64",
            "--qualities",
            "0.5",
            "--no-vmaf",
            "--no-cache",
        ],
        capsys,
    )
    assert code == 1 and "failed before the codec ran" in err, err


def test_evaluate_exits_130_when_interrupted(clip: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("aiv.evaluate.evaluate", interrupted)
    code, err = aiv(["evaluate", "intra", "--clips", clip, "--out", tmp_path / "o"], capsys)
    assert code == 130 and "interrupted" in err


def test_evaluate_exits_0_and_3(tiny_codec_source: str, clip: Path, tmp_path: Path, capsys) -> None:
    codec = tmp_path / "tiny.py"
    codec.write_text(tiny_codec_source)
    common = ["--clips", clip, "--quiet", "--no-vmaf", "--no-cache", "--qualities", "0.3,0.7"]
    assert aiv(["evaluate", codec, *common, "--out", tmp_path / "ok"], capsys)[0] == 0
    codec.write_text(tiny_codec_source.replace("def encode(", "def encode_renamed("))
    assert aiv(["evaluate", codec, *common, "--out", tmp_path / "failed"], capsys)[0] == 3


@pytest.mark.parametrize("kind", ["missing", "a file", "a folder without lab.sqlite"])
def test_serve_refuses_a_path_that_holds_no_store(kind: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / "lab"
    if kind == "a file":
        path.write_text("")
    elif kind == "a folder without lab.sqlite":
        path.mkdir()
    code, err = aiv(["serve", "--store", path], capsys)
    assert code == 2 and f"no store at {path}" in err
    assert kind != "a folder without lab.sqlite" or list(path.iterdir()) == [], "serve wrote into the folder"


def test_serve_refuses_a_corrupt_store(tmp_path: Path, capsys) -> None:
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "lab.sqlite").write_bytes(b"not a database" * 100)
    code, err = aiv(["serve", "--store", tmp_path / "lab"], capsys)
    assert code == 2 and "lab.sqlite" in err, err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--port", "70000"], "--port must be in 0..65535, got 70000"),
        (["--port", "http"], "argument --port: invalid int value: 'http'"),
        (["--host", "no-such-host.invalid"], "cannot listen on no-such-host.invalid:0"),
    ],
)
def test_serve_refuses_a_bad_option_value(options: list, message: str, store: Path, capsys) -> None:
    code, err = aiv(["serve", "--store", store, "--port", "0", *options], capsys)
    assert code == 2 and message in err, err


def test_serve_refuses_a_port_in_use_in_a_real_process(store: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "aiv.cli", "serve", "--store", str(store), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
            check=False,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"aiv serve: cannot listen on 127.0.0.1:{port}: [Errno 98] Address already in use"


def test_serve_stops_with_exit_0_on_ctrl_c(store: Path, capsys, monkeypatch) -> None:
    def interrupted(_server):
        raise KeyboardInterrupt

    monkeypatch.setattr("aiv.web.server.DashboardServer.serve_forever", interrupted)
    assert aiv(["serve", "--store", store, "--port", "0"], capsys)[0] == 0


def readme_codes(command: str) -> set[int]:
    """The exit codes README.md's table lists for `aiv COMMAND`."""
    rows = [line for line in README.read_text().splitlines() if line.startswith(f"| `aiv {command}` |")]
    assert len(rows) == 1, f"README.md has no single exit-code row for aiv {command}"
    return {int(code) for code in re.findall(r"`(\d+)`", rows[0])}


@pytest.mark.parametrize("command", sorted(EXIT_CODES))
def test_the_readme_lists_the_exit_codes_these_tests_produce(command: str) -> None:
    assert readme_codes(command) == EXIT_CODES[command]
