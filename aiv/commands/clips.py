"""`aiv clips upload PATH... --bucket B [--prefix clips/]`: put clips where the Batch job finds them."""

from __future__ import annotations

import argparse

from aiv.commands.common import EXIT_OK, add_json_argument, print_json


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("clips", help="manage the clips of the deployed lab (AWS)",
                                 description="Clips of the deployed lab live in its bucket under clips/.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    upload = actions.add_parser(
        "upload", help="upload clip files (or the clips in folders) to the bucket",
        description="Check that each file reads as a clip, then upload it to s3://BUCKET/PREFIX<file name>. "
                    "A campaign uses it by that file name in its settings (train_clips, validation_clips). "
                    "Raw .yuv files must carry size and rate in their name, e.g. foreman_352x288_30.yuv.")
    upload.add_argument("paths", nargs="+", metavar="PATH", help="clip files or folders")
    upload.add_argument("--bucket", required=True, help="the artifacts bucket (the stack output ArtifactsBucket)")
    upload.add_argument("--prefix", default="clips/", help="key prefix (default clips/)")
    add_json_argument(upload)
    upload.set_defaults(handler=cmd_upload)


def cmd_upload(args: argparse.Namespace) -> int:
    import boto3

    from aiv.aws.clips import upload_clips

    keys = upload_clips(boto3.client("s3"), args.bucket, args.paths, args.prefix)
    if args.json:
        print_json({"bucket": args.bucket, "keys": keys})
    else:
        for key in keys:
            print(f"uploaded s3://{args.bucket}/{key}")
        names = [key.rsplit("/", 1)[1] for key in keys]
        print(f"use them in the campaign settings as: {names}")
    return EXIT_OK
