"""`aiv clips fetch/list/add-local` against a local HTTP server on 127.0.0.1 serving clips the tests make."""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from clip_helpers import TEST_SECRET

from aiv.cli import main
from aiv.errors import ClipError, UsageError
from aiv.video import testsets
from aiv.video.corpus import builtin_clip
from aiv.video.fetch import FetchError, part_path
from aiv.video.library import (
    add_local,
    campaign_clips,
    entries,
    expand_specs,
    fetch,
    ready_path,
    resolve_set,
    sha256_file,
    split,
)
from aiv.video.pyav_writer import encode_clip
from aiv.video.readers import read_clip
from aiv.video.testsets import NamedSet, Sequence
from aiv.video.y4m import read_y4m, write_y4m


class ClipServer(ThreadingHTTPServer):
    """Serves `files` by path, honouring Range; `modes` makes a path misbehave."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.files: dict[str, bytes] = {}
        self.modes: dict[str, str] = {}  # "slow": stall before the body; "truncate": close half way
        self.ranges: list[str | None] = []
        self.stalls = threading.Event()  # set at teardown so a stalled handler ends

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class Handler(BaseHTTPRequestHandler):
    server: ClipServer

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.lstrip("/")
        body = self.server.files.get(path)
        self.server.ranges.append(self.headers.get("Range"))
        if body is None:
            self.send_error(404, "Not Found")
            return
        ranged = self.headers.get("Range") and self.server.modes.get(path) != "ignore-range"
        start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-")) if ranged else 0
        if start >= len(body) and start:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        mode = self.server.modes.get(path)
        if mode == "slow":
            self.server.stalls.wait(10)
            return
        rest = body[start:]
        self.wfile.write(rest[: len(rest) // 2] if mode == "truncate" else rest)


@pytest.fixture
def server():
    httpd = ClipServer()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.stalls.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("AIV_CACHE", str(folder))
    return folder


def y4m_bytes(tmp_path: Path, name: str = "pan_zoom", frames: int = 3) -> bytes:
    clip = builtin_clip(name, frames, secret=TEST_SECRET).crop(64, 48)
    path = tmp_path / f"made-{name}.y4m"
    write_y4m(path, clip)
    return path.read_bytes()


def register(
    monkeypatch,
    server: ClipServer,
    name: str,
    body: bytes,
    sha256: str | None = None,
    size: tuple[int, int] = (64, 48),
    suffix: str = ".y4m",
) -> Sequence:
    """Serve `body` and put a sequence for it (and a one-sequence set `<name>-set`) into the catalogue."""
    server.files[name + suffix] = body
    seq = Sequence(name, server.base + name + suffix, *size, 30.0, "test content", "made by the test", sha256)
    monkeypatch.setitem(testsets.SEQUENCES, name, seq)
    return seq


def test_fetch_downloads_pins_and_lists_a_sequence(server, cache, tmp_path, monkeypatch, capsys):
    body = y4m_bytes(tmp_path)
    register(monkeypatch, server, "tiny_a", body)
    register(monkeypatch, server, "tiny_b", y4m_bytes(tmp_path, "noisy_static"))
    monkeypatch.setitem(
        testsets.SETS, "tiny-set", NamedSet("tiny-set", "two tiny clips", ("tiny_a", "tiny_b"), validation=("tiny_b",))
    )
    assert main(["clips", "fetch", "tiny-set"]) == 0
    ready = ready_path(cache, "tiny_a")
    assert ready.read_bytes() == body and read_y4m(ready).frames == 3
    pins = json.loads((cache / "clips" / "pins.json").read_text())
    assert pins["tiny_a"]["sha256"] == sha256_file(ready) and pins["tiny_a"]["bytes"] == len(body)
    out = capsys.readouterr().out
    assert f"tiny_a: downloading {server.base}tiny_a.y4m\n" in out and "tiny_a: ready" in out
    assert main(["clips", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["tiny-set"]["present"] and rows["tiny_a"]["bytes"] == len(body)  # a hard link counts once
    assert not rows["foreman_cif"]["present"] and rows["foreman_cif"]["bytes"] == 0
    clip_set = resolve_set("tiny-set", cache)
    assert clip_set.train == (str(ready),) and clip_set.validation == (str(ready_path(cache, "tiny_b")),)


def test_a_partial_download_resumes_with_a_range_request(server, cache, tmp_path, monkeypatch):
    body = y4m_bytes(tmp_path)
    seq = register(monkeypatch, server, "tiny_a", body)
    source = cache / "clips" / "source" / "tiny_a.y4m"
    source.parent.mkdir(parents=True)
    part_path(source).write_bytes(body[:1000])
    fetch(["tiny_a"], cache, show_progress=False, report=lambda line: None)
    assert server.ranges == ["bytes=1000-"] and source.read_bytes() == body
    assert ready_path(cache, seq.name).read_bytes() == body


def test_a_whole_partial_download_is_finished_without_downloading_again(server, cache, tmp_path, monkeypatch):
    body = y4m_bytes(tmp_path)
    register(monkeypatch, server, "tiny_a", body)
    source = cache / "clips" / "source" / "tiny_a.y4m"
    source.parent.mkdir(parents=True)
    part_path(source).write_bytes(body)
    fetch(["tiny_a"], cache, show_progress=False, report=lambda line: None)
    assert server.ranges == [f"bytes={len(body)}-"] and source.read_bytes() == body  # answered 416: complete


def test_a_server_that_ignores_range_sends_the_whole_file_again(server, cache, tmp_path, monkeypatch):
    body = y4m_bytes(tmp_path)
    register(monkeypatch, server, "tiny_a", body)
    server.modes["tiny_a.y4m"] = "ignore-range"
    source = cache / "clips" / "source" / "tiny_a.y4m"
    source.parent.mkdir(parents=True)
    part_path(source).write_bytes(b"x" * 1000)
    fetch(["tiny_a"], cache, show_progress=False, report=lambda line: None)
    assert source.read_bytes() == body  # started over rather than appending to the stale part


def test_a_truncated_body_is_an_error_and_the_next_fetch_resumes_it(server, cache, tmp_path, monkeypatch):
    body = y4m_bytes(tmp_path)
    register(monkeypatch, server, "tiny_a", body)
    server.modes["tiny_a.y4m"] = "truncate"
    with pytest.raises(FetchError, match="run again to resume"):
        fetch(["tiny_a"], cache, show_progress=False)
    part = part_path(cache / "clips" / "source" / "tiny_a.y4m")
    assert 0 < part.stat().st_size < len(body) and not ready_path(cache, "tiny_a").exists()
    del server.modes["tiny_a.y4m"]
    fetch(["tiny_a"], cache, show_progress=False, report=lambda line: None)
    assert server.ranges[-1] == f"bytes={len(body) // 2}-" and ready_path(cache, "tiny_a").read_bytes() == body


def test_a_wrong_published_hash_is_refused_and_the_file_removed(server, cache, tmp_path, monkeypatch, capsys):
    register(monkeypatch, server, "tiny_a", y4m_bytes(tmp_path), sha256="0" * 64)
    assert main(["clips", "fetch", "tiny_a"]) == 1
    err = capsys.readouterr().err
    assert "has sha256" in err and "not " + "0" * 64 in err and "published" in err and "Traceback" not in err
    assert not (cache / "clips" / "source" / "tiny_a.y4m").exists() and not ready_path(cache, "tiny_a").exists()


def test_a_file_that_changes_after_its_first_download_is_refused(server, cache, tmp_path, monkeypatch):
    register(monkeypatch, server, "tiny_a", y4m_bytes(tmp_path))
    fetch(["tiny_a"], cache, show_progress=False, report=lambda line: None)
    first = sha256_file(ready_path(cache, "tiny_a"))
    fetch(["tiny_a"], cache, show_progress=False, report=lambda line: None)  # present: checked again, fine
    server.files["tiny_a.y4m"] = y4m_bytes(tmp_path, "light_cut")
    (cache / "clips" / "source" / "tiny_a.y4m").unlink()
    ready_path(cache, "tiny_a").unlink()
    with pytest.raises(FetchError, match=f"not {first}.*pinned at its first download"):
        fetch(["tiny_a"], cache, show_progress=False)


def test_a_missing_file_is_an_http_error(server, cache, monkeypatch, capsys):
    seq = Sequence("gone", server.base + "gone.y4m", 64, 48, 30.0, "", "")
    monkeypatch.setitem(testsets.SEQUENCES, "gone", seq)
    assert main(["clips", "fetch", "gone"]) == 1
    assert "gone.y4m: HTTP 404" in capsys.readouterr().err


def test_a_stalled_server_times_out(server, cache, tmp_path, monkeypatch):
    register(monkeypatch, server, "tiny_a", y4m_bytes(tmp_path))
    server.modes["tiny_a.y4m"] = "slow"
    started = time.monotonic()
    with pytest.raises(FetchError, match="no data for 0.5 s after 0 bytes; run again to resume"):
        fetch(["tiny_a"], cache, timeout_s=0.5, show_progress=False)
    assert time.monotonic() - started < 8  # it gave up, rather than waiting for the server's 10 s stall
    assert not (cache / "clips" / "source" / "tiny_a.y4m").exists() and not ready_path(cache, "tiny_a").exists()


def test_a_container_is_converted_once_to_y4m(server, cache, tmp_path, monkeypatch):
    clip = builtin_clip("moving_object", 4, secret=TEST_SECRET).crop(64, 48)
    mp4 = tmp_path / "made.mp4"
    encode_clip(clip, str(mp4), "mp4", "libx264", {"qp": "0"})
    register(monkeypatch, server, "tiny_mp4", mp4.read_bytes(), suffix=".mp4")
    fetch(["tiny_mp4"], cache, show_progress=False, report=lambda line: None)
    converted = read_y4m(ready_path(cache, "tiny_mp4"))
    assert (converted.frames, converted.width, converted.height, converted.fps) == (4, 64, 48, 30.0)
    assert np.array_equal(converted.y, read_clip(mp4).y)


def test_a_download_of_the_wrong_size_is_refused(server, cache, tmp_path, monkeypatch):
    register(monkeypatch, server, "tiny_a", y4m_bytes(tmp_path), size=(352, 288))
    with pytest.raises(FetchError, match="the download is 64x48, the catalogue says 352x288"):
        fetch(["tiny_a"], cache, show_progress=False)
    assert not ready_path(cache, "tiny_a").exists()  # nothing a set could name


def test_a_present_file_that_was_changed_on_disk_is_refused(server, cache, tmp_path, monkeypatch):
    register(monkeypatch, server, "tiny_a", y4m_bytes(tmp_path))
    fetch(["tiny_a"], cache, show_progress=False, report=lambda line: None)
    with open(cache / "clips" / "source" / "tiny_a.y4m", "r+b") as source:  # the ready y4m is the same file
        source.seek(-1, 2)
        source.write(b"\x00")
    with pytest.raises(FetchError, match="pinned at its first download"):
        fetch(["tiny_a"], cache, show_progress=False)
    assert not ready_path(cache, "tiny_a").exists()


def test_unknown_names_are_usage_errors(cache, capsys):
    assert main(["clips", "fetch", "no-such-set"]) == 2
    assert "no test set or sequence named 'no-such-set'" in capsys.readouterr().err
    with pytest.raises(UsageError, match="no clip set named 'nothing'"):
        resolve_set("nothing", cache)
    with pytest.raises(ClipError, match="not fetched yet; run: aiv clips fetch derf-cif"):
        resolve_set("derf-cif", cache)


def write_clips(folder: Path, tmp_path: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.y4m").write_bytes(y4m_bytes(tmp_path, "pan_zoom", 2))


def test_a_local_folder_set_splits_every_fourth_clip_from_the_last(cache, tmp_path, capsys):
    folder = tmp_path / "mine"
    write_clips(folder, tmp_path, [f"c{i}" for i in range(5)])
    assert main(["clips", "add-local", "mine", str(folder)]) == 0
    assert "local set mine: 3 train, 2 validation clip(s)" in capsys.readouterr().out
    clip_set = resolve_set("mine", cache)
    assert [Path(f).stem for f in clip_set.train] == ["c1", "c2", "c3"]
    assert [Path(f).stem for f in clip_set.validation] == ["c0", "c4"]
    assert expand_specs(["mine", "pan_zoom"], cache) == [*clip_set.train, *clip_set.validation, "pan_zoom"]
    local = next(row for row in entries(cache) if row.name == "mine")
    assert local.kind == "local set" and local.present and local.bytes == 5 * (folder / "c0.y4m").stat().st_size


def test_a_manifest_names_its_clips_and_validation(cache, tmp_path):
    write_clips(tmp_path / "clips", tmp_path, ["a", "b", "c"])
    manifest = tmp_path / "set.json"
    manifest.write_text(json.dumps({"clips": ["clips/a.y4m", "clips/b.y4m", "clips/c.y4m"], "validation": ["a"]}))
    clip_set = resolve_set(str(manifest), cache)  # a manifest path works without add-local
    assert clip_set.name == "set" and [Path(f).stem for f in clip_set.validation] == ["a"]
    assert [Path(f).stem for f in clip_set.train] == ["b", "c"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not a clip set manifest"),
        ('{"clips": []}', "non-empty list"),
        ('{"clips": ["clips/a.y4m"], "validation": ["zzz"]}', "validation names zzz are not among its clips"),
        ('{"clips": ["clips/a.y4m"], "validation": ["a"]}', "nothing is left to train on"),
        ('{"clips": ["clips/missing.y4m"]}', "missing or not a supported clip file"),
    ],
)
def test_bad_manifests_say_what_is_wrong(cache, tmp_path, content, message):
    write_clips(tmp_path / "clips", tmp_path, ["a"])
    manifest = tmp_path / "bad.json"
    manifest.write_text(content)
    with pytest.raises(ClipError, match=message):
        add_local("bad", manifest, cache)


def test_a_local_set_cannot_take_a_catalogue_name_or_an_unreadable_clip(cache, tmp_path):
    with pytest.raises(UsageError, match="catalogue name"):
        add_local("derf-cif", tmp_path, cache)
    (tmp_path / "broken.y4m").write_bytes(b"YUV4MPEG2 W64 H48\nnot a frame")
    with pytest.raises(ClipError, match="broken.y4m"):
        add_local("broken", tmp_path, cache)


def test_split_of_one_clip_has_no_validation() -> None:
    assert split("one", ["/x/a.y4m"]).validation == ()


def test_the_catalogue_is_consistent() -> None:
    for test_set in testsets.SETS.values():
        assert set(test_set.validation) < set(test_set.sequences) <= set(testsets.SEQUENCES), test_set.name
    for seq in testsets.SEQUENCES.values():
        assert seq.url.endswith(".y4m") and seq.width % 2 == 0 and seq.height % 2 == 0 and seq.licence
        assert seq.sha256 is None or len(seq.sha256) == 64


def test_evaluate_clips_take_built_in_and_set_names(cache, tmp_path):
    from aiv.commands.common import load_clip_arguments
    from aiv.video.corpus_secret import file_secret

    write_clips(tmp_path / "mine", tmp_path, ["a", "b"])
    add_local("mine", tmp_path / "mine", cache)
    args = argparse.Namespace(clips=["val_pan_zoom", "mine"], frames=2, size=None, fps=None)
    clips = load_clip_arguments(args)
    assert [clip.name for clip in clips] == ["val_pan_zoom", "a", "b"]  # the set: train (a), then validation (b)
    assert clips[0].sha256 == builtin_clip("val_pan_zoom", 2, secret=file_secret(cache)).sha256
    with pytest.raises(UsageError, match="no clip set named 'nope'"):
        load_clip_arguments(argparse.Namespace(clips=["nope"], frames=2, size=None, fps=None))


def test_a_444_y4m_is_converted_to_420(server, cache, monkeypatch):
    rng = np.random.default_rng(5)
    planes = rng.integers(16, 236, (2, 3, 48, 64), dtype=np.uint8)  # two 4:4:4 frames
    body = b"YUV4MPEG2 W64 H48 F30:1 Ip A1:1 C444\n" + b"".join(b"FRAME\n" + frame.tobytes() for frame in planes)
    register(monkeypatch, server, "tiny_444", body)
    fetch(["tiny_444"], cache, show_progress=False, report=lambda line: None)
    converted = read_y4m(ready_path(cache, "tiny_444"))
    assert (converted.frames, converted.u.shape) == (2, (2, 24, 32))
    assert np.array_equal(converted.y, planes[:, 0])  # luma kept exactly; chroma subsampled


def test_campaign_clips_from_a_corpus_and_a_validation_corpus(cache, tmp_path):
    write_clips(tmp_path / "one", tmp_path, ["a", "b", "c", "d"])
    write_clips(tmp_path / "two", tmp_path, ["e", "f"])
    add_local("one", tmp_path / "one", cache)
    defaults = (("pan_zoom",), ("val_pan_zoom",))

    def stems(
        clips: list[str] | None = None,
        validation_clips: list[str] | None = None,
        corpus: str | None = None,
        validation_corpus: str | None = None,
    ) -> tuple[list[str], list[str]]:
        train, validation = campaign_clips(clips, validation_clips, corpus, validation_corpus, defaults, cache)
        return [Path(f).stem for f in train], [Path(f).stem for f in validation]

    assert stems() == (["pan_zoom"], ["val_pan_zoom"])
    assert stems(corpus="one") == (["a", "b", "c"], ["d"])
    assert stems(corpus="one", validation_corpus=str(tmp_path / "two")) == (["a", "b", "c"], ["e", "f"])
    assert stems(corpus="one", validation_clips=["val_light_cut"]) == (["a", "b", "c"], ["val_light_cut"])
    assert stems(clips=["one"], validation_clips=[]) == (["a", "b", "c", "d"], [])  # --clips takes set names too
    with pytest.raises(UsageError, match="in both the train and the validation clips"):
        stems(corpus="one", validation_corpus="one")
    with pytest.raises(UsageError, match="--clips and --corpus both name the train clips"):
        stems(clips=["pan_zoom"], corpus="one")
    with pytest.raises(UsageError, match="--validation-clips and --validation-corpus"):
        stems(validation_clips=["x.y4m"], validation_corpus="one")


def test_run_refuses_an_unknown_corpus_before_touching_the_store(cache, tmp_path, capsys):
    store = tmp_path / "lab"
    assert main(["run", "--corpus", "nope", "--store", str(store), "--proposer", "offline"]) == 2
    assert main(["run", "--corpus", "derf-cif", "--clips", "pan_zoom", "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert "no clip set named 'nope'" in err and "--clips and --corpus both name the train clips" in err
    assert not store.exists()
