"""Clips in the artifacts bucket: `aiv clips upload` puts them under `clips/`, the Batch job fetches them.

A campaign names its clips in its settings (AIV_SETTINGS "train_clips", "validation_clips"):
a built-in corpus name, or the name of a clip uploaded here, e.g. "foreman_cif.y4m" for the object
`clips/foreman_cif.y4m`, or "derf-cif/foreman_cif.y4m" for a clip of a set uploaded with --corpus.
Raw .yuv files must say their size and rate in their name (foreman_352x288_30.yuv), since nothing
else travels with them. A set uploaded with --corpus also gets a manifest, `clips/<set>/set.json`
({"name", "train_clips", "validation_clips", "sha256": {clip: hash}}), by which an execution names
the set ({"corpus": "<set>"}) instead of listing its clips.
"""

from __future__ import annotations

import json
from pathlib import Path

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError

from aiv.errors import AivError, ClipError, UsageError
from aiv.store.ports import check_artifact_key
from aiv.video.library import ClipSet, sha256_file
from aiv.video.readers import expand_clip_paths, read_clip


def clip_files(paths: list[str | Path]) -> list[Path]:
    """The clip files named, and the supported files directly inside the folders named; each checked readable.

    ClipError for a missing path, an empty folder or an unreadable clip; UsageError for two files of one name.
    """
    files = [file for path in paths for file in expand_clip_paths(Path(path))]
    names = [f.name for f in files]
    twins = sorted({name for name in names if names.count(name) > 1})
    if twins:
        raise UsageError(f"several files are named {', '.join(twins)}; clips are stored by file name, rename them")
    for file in files:
        read_clip(file, frames=1)  # ClipError naming the file when it cannot be read as a clip
    return files


def upload_clips(s3, bucket: str, paths: list[str | Path], prefix: str = "clips/") -> list[str]:
    """Upload the clips `paths` name to s3://`bucket`/`prefix`<file name>; returns the object keys."""
    keys = []
    for file in clip_files(paths):
        key = check_artifact_key(prefix.strip("/") + "/" + file.name)
        try:
            s3.upload_file(str(file), bucket, key)
        except (ClientError, S3UploadFailedError) as exc:
            raise AivError(f"uploading {file} to s3://{bucket}/{key} failed: {exc}") from exc
        keys.append(key)
    return keys


SET_MANIFEST = "set.json"


def set_manifest_key(name: str, prefix: str = "clips/") -> str:
    """The object key of set `name`'s manifest: `prefix`<name>/set.json."""
    return check_artifact_key(f"{prefix.strip('/')}/{name}/{SET_MANIFEST}")


def upload_set(s3, bucket: str, clip_set: ClipSet, prefix: str = "clips/") -> tuple[list[str], dict]:
    """Upload a set's files to s3://`bucket`/`prefix`<set name>/<file name>, then its manifest (set_manifest_key).

    Returns the object keys (the manifest's last) and the campaign settings that name the clips
    ({"train_clips", "validation_clips"}).
    """
    root = prefix.strip("/")
    files = [*clip_set.train, *clip_set.validation]
    keys = upload_clips(s3, bucket, files, f"{root}/{clip_set.name}")
    names = [key.removeprefix(f"{root}/") for key in keys]
    settings = {"train_clips": names[: len(clip_set.train)], "validation_clips": names[len(clip_set.train) :]}
    manifest = {
        "name": clip_set.name,
        **settings,
        "sha256": {name: sha256_file(Path(file)) for name, file in zip(names, files)},
    }
    key = set_manifest_key(clip_set.name, prefix)
    try:
        s3.put_object(
            Bucket=bucket, Key=key, Body=json.dumps(manifest, indent=1).encode(), ContentType="application/json"
        )
    except ClientError as exc:
        raise AivError(f"writing the set's manifest s3://{bucket}/{key} failed: {exc}") from exc
    return [*keys, key], settings


def read_set(s3, bucket: str, name: str, prefix: str = "clips/") -> dict[str, list[str]]:
    """The clip lists {"train_clips", "validation_clips"} of the set `name` uploaded with `aiv clips upload --corpus`.

    ClipError naming the set when its manifest is not in the bucket or is not one upload_set writes.
    """
    key = set_manifest_key(name, prefix)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
            raise
        raise ClipError(
            f"no clip set {name!r} in the bucket (no s3://{bucket}/{key}); upload it with: "
            f"aiv clips upload --corpus {name} --bucket {bucket}"
        ) from None
    try:
        manifest = json.loads(body)
        lists = {field: manifest[field] for field in ("train_clips", "validation_clips")}
    except (ValueError, TypeError, KeyError) as exc:
        raise ClipError(
            f"the manifest s3://{bucket}/{key} of clip set {name!r} is not a set manifest "
            f"({type(exc).__name__}: {exc}); upload the set again"
        ) from None
    for field, clips in lists.items():
        if not clips or not isinstance(clips, list) or not all(isinstance(c, str) and c for c in clips):
            raise ClipError(
                f"the manifest s3://{bucket}/{key} of clip set {name!r} has no list of clip names "
                f"in {field!r}; upload the set again"
            )
    return lists


def fetch_clips(s3, bucket: str, specs: list[str], dest: Path, prefix: str = "clips/") -> dict[str, Path]:
    """Download every clip in `specs` that is not a built-in corpus name into `dest`; {spec: local path}.

    ClipError naming the object when a clip is not in the bucket.
    """
    from aiv.video.corpus import CORPUS_NAMES

    local: dict[str, Path] = {}
    for spec in dict.fromkeys(specs):
        if spec in CORPUS_NAMES:
            continue
        key = check_artifact_key(prefix.strip("/") + "/" + spec)
        path = dest / check_artifact_key(spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            s3.download_file(bucket, key, str(path))
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
                raise
            raise ClipError(
                f"clip {spec!r} is neither a built-in clip nor in the bucket (s3://{bucket}/{key}); "
                f"upload it with: aiv clips upload {spec} --bucket {bucket}"
            ) from None
        local[spec] = path
    return local
