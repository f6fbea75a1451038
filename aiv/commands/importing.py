"""`aiv import CODEC.py [--name NAME]`: a researcher's codec enters the archive and is evaluated as a seed."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from aiv.commands.common import (
    EXIT_CODEC_FAILED,
    EXIT_OK,
    add_json_argument,
    add_store_argument,
    default_cache_dir,
    print_json,
)

if TYPE_CHECKING:
    from aiv.store.records import Experiment


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "import",
        help="enter your own codec module into the archive and evaluate it as a seed",
        description="Check a codec module against the static policy, enter it into the store's archive like a "
        "built-in seed, and evaluate it on the store's benchmark (the clips, frames, qualities and "
        "anchors of the store's last run; the defaults of `aiv run` for a new store). Once it has "
        "succeeded it is a parent for the search. Exit 0: evaluated (or already in the archive); "
        "3: refused by the policy, or it failed or was rejected (the reason is printed); 2: bad usage.",
    )
    parser.add_argument("codec", metavar="CODEC.py", help="the module (encode and decode, see the codec contract)")
    parser.add_argument("--name", help="its name in the archive (default: the file's name without .py)")
    add_store_argument(parser)
    add_json_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from aiv.codec.contract import load_codec
    from aiv.codec.policy import PolicyViolation
    from aiv.commands.campaign import report_line
    from aiv.errors import UsageError
    from aiv.pipeline.importing import check_import
    from aiv.local import open_local_lab, store_path
    from aiv.runner import CampaignRun, RunOptions, stored_settings
    from aiv.store.ports import require_experiment

    if not args.codec.endswith(".py"):
        raise UsageError(f"aiv import takes a .py codec module, got {args.codec}")
    codec = load_codec(args.codec)
    name = args.name or codec.name
    try:
        check_import(name, codec.source)
    except PolicyViolation as violation:
        print(f"aiv import: the static policy refuses {args.codec}: {violation}", file=sys.stderr)
        return EXIT_CODEC_FAILED
    path = store_path(args.store)
    lab = open_local_lab(path, cache_dir=default_cache_dir())
    settings = stored_settings(lab.experiments)
    if settings is not None:
        lab = open_local_lab(path, settings, cache_dir=default_cache_dir())
    standing = [e for e in lab.experiments.find_by_code(codec.sha256) if e.status not in ("failed", "rejected")]
    if standing:
        return _report(args, standing[0], created=False)
    report_line(
        f"importing {args.codec} as {name} into {path}; benchmark: "
        f"{'the last run' if settings else 'the defaults of aiv run'} ({', '.join(lab.settings.train_clips)}, "
        f"{lab.settings.frames} frames)"
    )
    campaign = CampaignRun(lab, RunOptions(iterations=0, seeds=(), imports=((name, args.codec),)), report=report_line)
    campaign.execute()
    entered = campaign.outcomes[0].experiment_id
    if entered is None:
        raise UsageError(f"importing {args.codec} made no experiment: {campaign.outcomes[0].reason}")
    return _report(args, require_experiment(lab.experiments, entered), created=True)


def _report(args: argparse.Namespace, experiment: Experiment, created: bool) -> int:
    from aiv.results import failure_text

    if args.json:
        print_json(
            {
                "experiment_id": experiment.id,
                "created": created,
                "status": experiment.status,
                "score": experiment.score,
                "score_validation": experiment.score_validation,
                "failure": experiment.failure,
            }
        )
    elif not created:
        print(f"already in the archive as {experiment.id} ({experiment.status}); nothing imported")
    elif experiment.status == "succeeded":
        validation = experiment.score_validation
        print(
            f"imported as {experiment.id}: succeeded, BD-rate vs x264 {_score(experiment.score)} (train), "
            f"{_score(validation)} (validation); it is now a parent for the search"
        )
    else:
        print(f"imported as {experiment.id}: {experiment.status}: {failure_text(experiment.failure or {})}")
    return EXIT_OK if experiment.status in ("succeeded", "proposed", "validating", "evaluating") else EXIT_CODEC_FAILED


def _score(value: float | None) -> str:
    return "not comparable" if value is None else f"{value:+.2f}%"
