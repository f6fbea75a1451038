"""`aiv run`: a search campaign on the local store."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from aiv.commands.common import (
    EXIT_OK,
    add_anchor_arguments,
    add_device_argument,
    add_json_argument,
    add_store_argument,
    default_cache_dir,
    parse_qualities,
    print_json,
)
from aiv.names import PROPOSERS
from aiv.settings import CampaignSettings

DEFAULTS = CampaignSettings()


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "run",
        help="run a search campaign: propose, validate, evaluate, record",
        description="Propose candidate codecs, validate them (policy, identical code), evaluate them (a smoke run, "
        "behavioural duplicates, then the "
        "train and validation clips against x264/x265, and record everything in the store. "
        "Ctrl-C stops cleanly; the next run closes anything an interrupted run left open.",
    )
    parser.add_argument("--iterations", type=int, default=10, metavar="N", help="candidates to propose (default 10)")
    parser.add_argument(
        "--proposer",
        choices=PROPOSERS,
        help="who writes candidates (default: claude when ANTHROPIC_API_KEY is set, else offline)",
    )
    parser.add_argument(
        "--parallel", type=int, default=1, metavar="K", help="candidates in flight at once (default %(default)s)"
    )
    parser.add_argument("--budget-usd", type=float, metavar="X", help="stop proposing once model spend reaches X")
    parser.add_argument(
        "--clips",
        nargs="+",
        metavar="CLIP",
        help=f"train clips: built-in clip names, clip files or set names (default: {' '.join(DEFAULTS.train_clips)})",
    )
    parser.add_argument(
        "--validation-clips",
        nargs="*",
        metavar="CLIP",
        help="validation clips, scored apart so the leaderboard shows whether gains generalise "
        f"(default: {' '.join(DEFAULTS.validation_clips)})",
    )
    parser.add_argument(
        "--corpus",
        metavar="NAME",
        help="train on a clip set (aiv clips list; a folder or .json manifest too) and validate on "
        "its validation split",
    )
    parser.add_argument("--validation-corpus", metavar="NAME", help="validate on every clip of this set instead")
    parser.add_argument(
        "--frames", type=int, default=DEFAULTS.frames, metavar="N", help="frames of each clip (default %(default)s)"
    )
    parser.add_argument(
        "--qualities",
        type=parse_qualities,
        default=DEFAULTS.qualities,
        metavar="Q,Q,...",
        help="quality points in [0, 1], increasing, at which every candidate is measured "
        f"(default {','.join(f'{q:g}' for q in DEFAULTS.qualities)})",
    )
    add_anchor_arguments(parser)
    parser.add_argument("--vmaf", action="store_true", help="also measure VMAF (slower)")
    add_device_argument(parser)
    parser.add_argument(
        "--timeout", type=float, default=DEFAULTS.timeout_s, metavar="S", help="seconds per encode or decode"
    )
    parser.add_argument("--model", help="Claude model id (default: the proposer's default)")
    parser.add_argument("--bedrock", action="store_true", help="call Claude through Amazon Bedrock")
    parser.add_argument("--max-tokens", type=int, metavar="N", help="Claude's reply limit in tokens")
    parser.add_argument("--request-timeout", type=float, metavar="S", help="seconds per Claude request")
    parser.add_argument(
        "--max-retries", type=int, metavar="N", help="retries of a Claude request on 429/5xx/overloaded, with backoff"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of parent selection and offline mutations")
    parser.add_argument(
        "--rerun",
        nargs="+",
        default=[],
        metavar="ID",
        help="measure these experiments' code again, as new experiments (before any new candidates)",
    )
    parser.add_argument(
        "--allow-weak-sandbox",
        action="store_true",
        help="run even where the codec sandbox is weaker than its full filesystem view "
        "(no root jail and no bwrap: codecs can read the lab's files through native code)",
    )
    add_store_argument(parser)
    add_json_argument(parser)
    parser.set_defaults(handler=run)


def report_line(line: str) -> None:
    """Progress of a campaign, one line per step, on stderr."""
    print(line, file=sys.stderr, flush=True)


def recovery_command(path: Path, settings: CampaignSettings, timeout_s: float, allow_weak_sandbox: bool) -> str:
    """The `aiv run` that evaluates the seeds again on the same benchmark (same clips, frames, qualities, anchors), with
    `timeout_s` seconds per encode or decode."""
    words = [
        "aiv",
        "run",
        "--store",
        str(path),
        "--clips",
        *settings.train_clips,
        "--validation-clips",
        *settings.validation_clips,
        "--frames",
        str(settings.frames),
        "--qualities",
        ",".join(f"{q:g}" for q in settings.qualities),
        "--timeout",
        f"{timeout_s:g}",
        "--anchor-crfs",
        ",".join(str(crf) for crf in settings.anchor_crfs),
        "--anchor-preset",
        settings.anchor_preset,
        *(["--allow-weak-sandbox"] if allow_weak_sandbox else []),
    ]
    return shlex.join(words)


def run(args: argparse.Namespace) -> int:
    from aiv.codec.device import resolve_device
    from aiv.codec.sandbox import weak_sandbox_reason
    from aiv.commands.browse import print_leaderboard
    from aiv.errors import UsageError
    from aiv.local import open_local_lab, proposer_factory, store_path
    from aiv.read_model import leaderboard_rows
    from aiv.runner import CampaignRun, RunOptions, SeedsFailed
    from aiv.video.library import campaign_clips

    if args.iterations < 0 or args.parallel < 1:
        raise UsageError("--iterations must be >= 0 and --parallel >= 1")
    weakness = weak_sandbox_reason()
    if weakness and not args.allow_weak_sandbox:
        raise UsageError(
            f"refusing to run a campaign: {weakness}. Install bubblewrap (apt-get install bubblewrap) "
            "or run as root; --allow-weak-sandbox runs it anyway"
        )
    proposer = args.proposer or ("claude" if os.environ.get("ANTHROPIC_API_KEY") else "offline")
    train, validation = campaign_clips(
        args.clips,
        args.validation_clips,
        args.corpus,
        args.validation_corpus,
        (DEFAULTS.train_clips, DEFAULTS.validation_clips),
        default_cache_dir(),
    )
    settings = CampaignSettings(
        qualities=tuple(args.qualities),
        frames=args.frames,
        train_clips=train,
        validation_clips=validation,
        vmaf=args.vmaf,
        timeout_s=args.timeout,
        anchor_crfs=tuple(args.anchor_crfs),
        anchor_preset=args.anchor_preset,
    )
    limits = {
        key: value
        for key, value in (
            ("max_tokens", args.max_tokens),
            ("timeout_s", args.request_timeout),
            ("max_retries", args.max_retries),
        )
        if value is not None
    }
    make_proposer = proposer_factory(model=args.model, bedrock=args.bedrock, claude_limits=limits)
    make_proposer(proposer)  # a missing key or unknown model fails here, before anything runs
    device = resolve_device(args.device)  # so does cuda without a CUDA device
    path = store_path(args.store)
    lab = open_local_lab(path, settings, make_proposer, cache_dir=default_cache_dir())
    lab.device = device
    options = RunOptions(
        iterations=args.iterations,
        proposer=proposer,
        parallel=args.parallel,
        budget_usd=args.budget_usd,
        random_seed=args.seed,
        reruns=tuple(args.rerun),
    )
    campaign = CampaignRun(lab, options, report=report_line)
    report_line(f"{campaign.run_id}: {options.iterations} candidate(s) from the {proposer} proposer, store {path}")
    try:
        outcomes = campaign.execute()
    except SeedsFailed as error:
        timeout = max(DEFAULTS.timeout_s, settings.timeout_s * 10) if error.timed_out() else settings.timeout_s
        raise SeedsFailed(
            f"{error}. Recover (the same benchmark{', a larger --timeout' if error.timed_out() else ''})"
            f" with: {recovery_command(path, settings, timeout, args.allow_weak_sandbox)}",
            error.reasons,
        ) from None
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    rows = leaderboard_rows(lab.experiments, "train", 10, lab.benchmark_id)
    if args.json:
        print_json(
            {
                "run_id": campaign.run_id,
                "store": str(path),
                "outcomes": [o.__dict__ for o in outcomes],
                "leaderboard": [row.as_json() for row in rows],
            }
        )
        return EXIT_OK
    print(f"\nrun {campaign.run_id}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    print(f"benchmark {lab.benchmark_id}")
    print_leaderboard(rows)
    print(f"\nresults: {path.resolve()}  (aiv leaderboard / aiv show ID / aiv serve --store {path})")
    return EXIT_OK
