"""`aiv clips`: named public test sets (fetch, list), local sets (add-local), and clips for the deployed lab (upload)."""

from __future__ import annotations

import argparse
import sys

from aiv.commands.common import (
    EXIT_OK,
    add_json_argument,
    default_cache_dir,
    print_json,
)
from aiv.errors import UsageError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "clips",
        help="fetch, list and name test clips; upload them to the deployed lab",
        description="Named public test sets land in the cache (AIV_CACHE, else ~/.cache/aiv) "
        "as y4m, pinned by sha256. A set's name works wherever clips are named: "
        "aiv run --corpus NAME, aiv evaluate --clips NAME.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    fetch = actions.add_parser(
        "fetch",
        help="download named test sets or sequences into the cache",
        description="Download each sequence (resuming a partial download), check its sha256 against the published "
        "one or the one pinned at its first download (a different file is refused), and convert it "
        "once to 8-bit 4:2:0 y4m. Fetching a present sequence checks its hash again.",
    )
    fetch.add_argument("names", nargs="+", metavar="NAME", help="set or sequence names (aiv clips list)")
    fetch.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="give up when the server sends nothing for S seconds (default 60)",
    )
    fetch.set_defaults(handler=cmd_fetch)

    listing = actions.add_parser("list", help="known sets and sequences, and local sets, with what is present")
    add_json_argument(listing)
    listing.set_defaults(handler=cmd_list)

    add_local = actions.add_parser(
        "add-local",
        help="name a folder of clips, or a JSON manifest, as a local set",
        description='A manifest is {"clips": ["a.y4m", "b.mp4"], "validation": ["b"]} with paths relative to it; '
        'without "validation" (and for a folder) every fourth clip from the last is held out.',
    )
    add_local.add_argument("name", help="the set's name")
    add_local.add_argument("path", help="a folder of clip files or a .json manifest")
    add_local.set_defaults(handler=cmd_add_local)

    upload = actions.add_parser(
        "upload",
        help="upload clip files, folders or a fetched set to the deployed lab's bucket",
        description="Check that each file reads as a clip, then upload it to s3://BUCKET/PREFIX<file name> "
        "(with --corpus NAME: s3://BUCKET/PREFIX<NAME>/<file name>). A campaign uses it by that "
        "name relative to the prefix in its settings (train_clips, validation_clips). "
        "Raw .yuv files must carry size and rate in their name, e.g. foreman_352x288_30.yuv.",
    )
    upload.add_argument("paths", nargs="*", metavar="PATH", help="clip files or folders")
    upload.add_argument("--corpus", metavar="NAME", help="a fetched or local set to upload, with its split")
    upload.add_argument("--bucket", required=True, help="the artifacts bucket (the stack output ArtifactsBucket)")
    upload.add_argument("--prefix", default="clips/", help="key prefix (default clips/)")
    add_json_argument(upload)
    upload.set_defaults(handler=cmd_upload)


def cmd_fetch(args: argparse.Namespace) -> int:
    from aiv.video.library import fetch

    fetch(args.names, default_cache_dir(), timeout_s=args.timeout, show_progress=sys.stderr.isatty())
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from aiv.video.library import entries

    rows = entries(default_cache_dir())
    if args.json:
        print_json([row.__dict__ for row in rows])
        return EXIT_OK
    for row in rows:
        size = f"{row.bytes / 1e6:9.1f} MB" if row.bytes else " " * 12
        print(f"{'present' if row.present else '-':8s} {row.kind:9s} {row.name:28s} {size}  {row.detail}")
    return EXIT_OK


def cmd_add_local(args: argparse.Namespace) -> int:
    from aiv.video.library import add_local

    clip_set = add_local(args.name, args.path, default_cache_dir())
    print(f"local set {clip_set.name}: {len(clip_set.train)} train, {len(clip_set.validation)} validation clip(s)")
    for role, files in (("train", clip_set.train), ("validation", clip_set.validation)):
        for file in files:
            print(f"  {role:10s} {file}")
    return EXIT_OK


def cmd_upload(args: argparse.Namespace) -> int:
    import boto3

    from aiv.aws.clips import upload_clips, upload_set

    if bool(args.paths) == bool(args.corpus):
        raise UsageError("give clip files or folders, or --corpus NAME (not both)")
    s3 = boto3.client("s3")
    if args.corpus:
        from aiv.video.library import resolve_set

        keys, settings = upload_set(s3, args.bucket, resolve_set(args.corpus, default_cache_dir()), args.prefix)
    else:
        keys = upload_clips(s3, args.bucket, args.paths, args.prefix)
        settings = None
    if args.json:
        print_json({"bucket": args.bucket, "keys": keys, **({"settings": settings} if settings else {})})
        return EXIT_OK
    for key in keys:
        print(f"uploaded s3://{args.bucket}/{key}")
    if settings:
        print(
            f'start an execution on the set with the input {{"corpus": "{args.corpus}"}}, '
            f"or put it in the campaign settings as: {settings}"
        )
    else:
        print(f"use them in the campaign settings as: {[key.rsplit('/', 1)[1] for key in keys]}")
    return EXIT_OK
