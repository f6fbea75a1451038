"""`aiv clips upload` and the clip fetch of the Batch job, on moto S3."""

from __future__ import annotations

import json
import shutil

import boto3
from awslab import BUCKET

import pytest

from aiv.aws.clips import fetch_clips, read_set
from aiv.cli import main
from aiv.errors import ClipError
from aiv.video.library import sha256_file


def keys(prefix: str = "") -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_upload_puts_files_and_folders_under_clips(aws, tiny_clip_files, tmp_path, capsys):
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(tiny_clip_files["tiny_pan.y4m"], folder)
    (folder / "notes.txt").write_text("not a clip, not uploaded")
    assert main(["clips", "upload", str(folder), str(tiny_clip_files["tiny_noise.y4m"]), "--bucket", BUCKET]) == 0
    assert keys() == ["clips/tiny_noise.y4m", "clips/tiny_pan.y4m"]
    out = capsys.readouterr().out
    assert f"uploaded s3://{BUCKET}/clips/tiny_pan.y4m" in out and "['tiny_pan.y4m', 'tiny_noise.y4m']" in out
    uploaded = boto3.client("s3").get_object(Bucket=BUCKET, Key="clips/tiny_pan.y4m")["Body"].read()
    assert uploaded == tiny_clip_files["tiny_pan.y4m"].read_bytes()


def test_upload_takes_another_prefix(aws, tiny_clip_files):
    assert (
        main(["clips", "upload", str(tiny_clip_files["tiny_pan.y4m"]), "--bucket", BUCKET, "--prefix", "corpora/xiph"])
        == 0
    )
    assert keys() == ["corpora/xiph/tiny_pan.y4m"]


def test_an_unreadable_clip_is_refused_before_anything_is_uploaded(aws, tiny_clip_files, tmp_path, capsys):
    broken = tmp_path / "broken.y4m"
    broken.write_bytes(b"YUV4MPEG2 W64 H48\nnot a frame")
    assert main(["clips", "upload", str(tiny_clip_files["tiny_pan.y4m"]), str(broken), "--bucket", BUCKET]) == 2
    assert "broken.y4m" in capsys.readouterr().err
    assert keys() == []


def test_raw_yuv_must_name_its_size_and_rate(aws, tmp_path, capsys):
    raw = tmp_path / "foreman.yuv"
    raw.write_bytes(bytes(64 * 48 * 3 // 2))
    assert main(["clips", "upload", str(raw), "--bucket", BUCKET]) == 2
    assert "size and frame rate unknown" in capsys.readouterr().err


def test_two_files_of_one_name_are_refused(aws, tiny_clip_files, tmp_path, capsys):
    other = tmp_path / "tiny_pan.y4m"
    shutil.copy(tiny_clip_files["tiny_noise.y4m"], other)
    assert main(["clips", "upload", str(tiny_clip_files["tiny_pan.y4m"]), str(other), "--bucket", BUCKET]) == 2
    assert "several files are named tiny_pan.y4m" in capsys.readouterr().err


def test_a_missing_bucket_is_an_error_naming_it(aws, tiny_clip_files, capsys):
    assert main(["clips", "upload", str(tiny_clip_files["tiny_pan.y4m"]), "--bucket", "no-such-bucket"]) == 1
    assert "s3://no-such-bucket/clips/tiny_pan.y4m failed" in capsys.readouterr().err


def test_fetch_skips_built_in_clips_and_downloads_the_rest(clips_in_bucket, tmp_path):
    local = fetch_clips(boto3.client("s3"), BUCKET, ["pan_zoom", "tiny_pan.y4m", "tiny_pan.y4m"], tmp_path)
    assert local == {"tiny_pan.y4m": tmp_path / "tiny_pan.y4m"}
    assert local["tiny_pan.y4m"].read_bytes() == clips_in_bucket["tiny_pan.y4m"].read_bytes()


def test_upload_corpus_puts_a_set_under_its_name_with_its_split(aws, tiny_clip_files, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AIV_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "tiny-set"
    folder.mkdir()
    for name in tiny_clip_files:
        shutil.copy(tiny_clip_files[name], folder)
    assert main(["clips", "add-local", "tiny", str(folder)]) == 0
    assert main(["clips", "upload", "--corpus", "tiny", "--bucket", BUCKET, "--json"]) == 0
    reply = json.loads(capsys.readouterr().out.split("\n", 3)[-1])  # after add-local's three lines
    assert keys() == ["clips/tiny/set.json", "clips/tiny/tiny_noise.y4m", "clips/tiny/tiny_pan.y4m"]
    assert reply["settings"] == {"train_clips": ["tiny/tiny_noise.y4m"], "validation_clips": ["tiny/tiny_pan.y4m"]}
    assert read_set(boto3.client("s3"), BUCKET, "tiny") == reply["settings"]  # what an execution naming it reads
    manifest = json.loads(boto3.client("s3").get_object(Bucket=BUCKET, Key="clips/tiny/set.json")["Body"].read())
    assert manifest["sha256"] == {f"tiny/{name}": sha256_file(path) for name, path in tiny_clip_files.items()}
    local = fetch_clips(boto3.client("s3"), BUCKET, reply["settings"]["train_clips"], tmp_path / "job")
    assert local["tiny/tiny_noise.y4m"].read_bytes() == tiny_clip_files["tiny_noise.y4m"].read_bytes()


def test_upload_takes_paths_or_a_corpus(aws, tiny_clip_files, capsys):
    assert main(["clips", "upload", str(tiny_clip_files["tiny_pan.y4m"]), "--corpus", "x", "--bucket", BUCKET]) == 2
    assert main(["clips", "upload", "--bucket", BUCKET]) == 2
    assert capsys.readouterr().err.count("give clip files or folders, or --corpus NAME") == 2
    assert keys() == []


def test_a_set_not_uploaded_or_with_a_broken_manifest_is_a_clip_error_naming_it(aws):
    s3 = boto3.client("s3")
    with pytest.raises(ClipError, match="no clip set 'derf-cif' in the bucket .*aiv clips upload --corpus derf-cif"):
        read_set(s3, BUCKET, "derf-cif")
    s3.put_object(Bucket=BUCKET, Key="clips/half/set.json", Body=b'{"train_clips": ["half/a.y4m"]}')
    with pytest.raises(ClipError, match="clip set 'half' is not a set manifest"):
        read_set(s3, BUCKET, "half")
    s3.put_object(Bucket=BUCKET, Key="clips/empty/set.json", Body=b'{"train_clips": [], "validation_clips": ["x"]}')
    with pytest.raises(ClipError, match="no list of clip names in 'train_clips'"):
        read_set(s3, BUCKET, "empty")
