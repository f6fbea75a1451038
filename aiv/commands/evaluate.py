"""`aiv evaluate`: measure one codec and write DIR/result.json."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from aiv.commands.common import (
    EXIT_CODEC_FAILED,
    EXIT_ERROR,
    EXIT_OK,
    add_anchor_arguments,
    add_clip_arguments,
    add_device_argument,
    add_json_argument,
    default_cache_dir,
    load_clip_arguments,
    parse_qualities,
    positive_float,
    positive_int,
    print_json,
)
from aiv.errors import UsageError

CODEC_STAGES = ("policy", "encode", "decode", "check")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="measure one codec against x264/x265 on clips",
        description="Encode and decode every clip at each quality point in separate sandboxed processes, "
        "measure rate and quality, and compute BD-rate against real x264/x265 encodes. "
        "Exit 0: measured; 3: the codec failed (result.json says why); 2: bad usage or "
        "unreadable input; 1: the harness itself failed.",
    )
    parser.add_argument("codec", help="a codec module (.py path) or a built-in name (intra, hybrid)")
    add_clip_arguments(parser)
    parser.add_argument(
        "--qualities",
        type=parse_qualities,
        default=(0.2, 0.4, 0.6, 0.8),
        metavar="Q,Q,...",
        help="quality points in [0, 1], increasing (default 0.2,0.4,0.6,0.8)",
    )
    add_anchor_arguments(parser)
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=600.0,
        metavar="S",
        help="wall-clock seconds allowed per encode and per decode (default 600)",
    )
    parser.add_argument(
        "--memory-mb",
        type=positive_int,
        default=4096,
        metavar="M",
        help="memory limit in MiB: resident memory of each encode/decode where a per-run cgroup "
        "is available, else address space of each codec process (default 4096)",
    )
    parser.add_argument("--out", metavar="DIR", help="output folder (default out/<codec>-<time>)")
    parser.add_argument(
        "--keep-artifacts",
        action="store_true",
        help="keep each point's bitstream and decoded frames (.y4m) under DIR/artifacts",
    )
    parser.add_argument("--no-vmaf", action="store_true", help="skip VMAF (its BD-rates become not comparable)")
    parser.add_argument("--no-cache", action="store_true", help="re-encode the anchors instead of using the cache")
    add_device_argument(parser)
    parser.add_argument(
        "--trust",
        action="store_true",
        help="skip the campaign's static policy (allowed imports, forbidden names) for your own code; "
        "result.json records that it was skipped",
    )
    add_json_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from aiv.codec.contract import load_codec
    from aiv.codec.device import resolve_device
    from aiv.codec.policy import PolicyViolation, check_policy
    from aiv.codec.sandbox import Limits, weak_sandbox_reason
    from aiv.evaluate import EvalSettings, check_measurable, evaluate, refused_record, write_result
    from aiv.report import format_record

    codec = load_codec(args.codec)
    weakness = weak_sandbox_reason()
    if weakness:  # result.json's "isolation" records it too
        print(f"aiv evaluate: warning: {weakness}", file=sys.stderr)
    settings = EvalSettings(
        qualities=args.qualities,
        anchor_crfs=args.anchor_crfs,
        anchor_preset=args.anchor_preset,
        vmaf=not args.no_vmaf,
        keep_artifacts=args.keep_artifacts,
        device=resolve_device(args.device),
        cache_dir=None if args.no_cache else default_cache_dir(),
        limits=Limits(timeout_s=args.timeout, memory_mb=args.memory_mb),
    )
    clips = load_clip_arguments(args)
    out_dir = Path(args.out) if args.out else Path("out") / f"{codec.name}-{datetime.now():%Y%m%d-%H%M%S}"
    try:  # before measuring, so no measurement is lost for want of a place to write it
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create the output folder {out_dir}: {error.strerror}") from None
    for clip in clips:  # before any codec runs
        check_measurable(clip)
    violation = None
    if not args.trust:
        try:
            check_policy(codec.source)
        except PolicyViolation as refused:
            violation = str(refused)
    if violation is None:
        record = evaluate(codec, clips, settings, out_dir=out_dir, show_progress=not args.quiet)
    else:
        record = refused_record(
            codec, clips, settings, "policy", f"the campaign's static policy refuses it: {violation}"
        )
    record["policy"] = {
        "checked": not args.trust,
        "skipped": "--trust: the researcher vouched for the code" if args.trust else None,
    }
    path = write_result(record, out_dir)
    if args.json:
        print_json(record)
    else:
        print(format_record(record))
        print(f"\nresult: {path}")
    if record["status"] == "ok":
        return EXIT_OK
    if record["failure"]["stage"] in CODEC_STAGES:
        if record["failure"]["stage"] == "policy":
            print(
                f"aiv evaluate: {record['failure']['reason']} (--trust skips the policy for your own code)",
                file=sys.stderr,
            )
        return EXIT_CODEC_FAILED
    print(f"aiv evaluate: measurement failed: {record['failure']['reason']}", file=sys.stderr)
    return EXIT_ERROR
