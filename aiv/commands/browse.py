"""`aiv list`, `aiv show`, `aiv leaderboard`, `aiv export`: reading the local store."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aiv.commands.common import EXIT_OK, add_json_argument, add_store_argument, print_json, resolve_experiment_id
from aiv.errors import UsageError
from aiv.benchmark import choose_benchmark, known_benchmarks
from aiv.read_model import LeaderboardRow, experiment_view, leaderboard_rows
from aiv.store.ports import ArtifactStore, ExperimentStore
from aiv.store.records import STATUSES


def register(commands: argparse._SubParsersAction) -> None:
    listing = commands.add_parser(
        "list", help="experiments, newest first", description="List experiments newest first, a page at a time."
    )
    listing.add_argument("--status", choices=STATUSES, help="only experiments in this status")
    listing.add_argument("--limit", type=int, default=30, help="experiments per page (default 30)")
    listing.add_argument("--cursor", help="the cursor a previous page printed, for the next page")
    add_store_argument(listing)
    add_json_argument(listing)
    listing.set_defaults(handler=cmd_list)

    show = commands.add_parser(
        "show",
        help="one experiment: results, events, code, diff against its parent",
        description="Show one experiment: its record, per-clip results, events, code and the diff against its parent.",
    )
    show.add_argument("id", help="experiment id (a unique prefix is enough)")
    add_store_argument(show)
    add_json_argument(show)
    show.set_defaults(handler=cmd_show)

    board = commands.add_parser(
        "leaderboard",
        help="the best experiments, train and validation scores",
        description="The best succeeded experiments by headline BD-rate vs x264 "
        "(PSNR-Y), with their validation score to show whether gains generalise.",
    )
    board.add_argument("--split", choices=("train", "validation"), default="train", help="rank by this split")
    board.add_argument("--limit", type=int, default=20, help="experiments shown (default %(default)s)")
    board.add_argument(
        "--benchmark",
        metavar="ID",
        help="rank within this benchmark (default: the store's current one; `unknown`: records older "
        "than benchmarks); scores of different benchmarks are never ranked together",
    )
    add_store_argument(board)
    add_json_argument(board)
    board.set_defaults(handler=cmd_leaderboard)

    export = commands.add_parser(
        "export",
        help="write an experiment's codec module and results to a folder",
        description="Write the codec module (encoder and decoder) as <id>.py, its "
        "evaluation record as result.json (the schema `aiv evaluate` writes; "
        "validation.json for the validation clips) and its experiment record "
        "as experiment.json to a folder.",
    )
    export.add_argument("id", help="experiment id (a unique prefix is enough)")
    export.add_argument("--out", metavar="DIR", help="destination folder (default export/<id>)")
    add_store_argument(export)
    add_json_argument(export)
    export.set_defaults(handler=cmd_export)


def _open(args: argparse.Namespace) -> tuple[ExperimentStore, ArtifactStore]:
    from aiv.local import store_path
    from aiv.store import open_local_store

    path = store_path(args.store)
    if not path.exists():
        raise UsageError(f"no store at {path}; run `aiv run` first or pass --store")
    return open_local_store(path)


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}%"


def cmd_list(args: argparse.Namespace) -> int:
    experiments, _ = _open(args)
    page = experiments.list_experiments(status=args.status, limit=args.limit, cursor=args.cursor)
    if args.json:
        print_json({"items": [e.as_record() for e in page.items], "cursor": page.cursor})
        return EXIT_OK
    print(f"{'id':<30} {'created':<20} {'status':<10} {'proposer':<9} {'score':>9} {'valid.':>9}  parent")
    for e in page.items:
        print(
            f"{e.id:<30} {e.created_at[:19]:<20} {e.status:<10} {e.proposer:<9} "
            f"{_score(e.score):>9} {_score(e.score_validation):>9}  {','.join(e.parents) or '-'}"
        )
    if page.cursor:
        print(f"next page: --cursor {page.cursor}")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from aiv.report import format_record

    experiments, artifacts = _open(args)
    view = experiment_view(experiments, artifacts, resolve_experiment_id(experiments, args.id))
    if args.json:
        print_json(view.as_json())
        return EXIT_OK
    e = view.experiment
    print(
        f"{e.id}  {e.status} (stage {e.stage})  proposer {e.proposer}"
        f"{' / ' + e.model if e.model else ''}  parents {', '.join(e.parents) or '-'}"
    )
    print(f"hypothesis: {e.hypothesis or '-'}")
    print(f"score (train) {_score(e.score)}   validation {_score(e.score_validation)}")
    cost = e.cost
    print(
        f"cost: {cost['input_tokens']} input + {cost['output_tokens']} output tokens, ${cost['llm_usd']:.4f}, "
        f"{cost['compute_s']:.1f} codec seconds"
    )
    if cost.get("batch_s") is not None:
        gpu = f"${cost['gpu_usd']:.4f} ({cost['gpu_price_basis']})" if cost.get("gpu_usd") is not None else "no price"
        print(f"GPU job: {cost['batch_s']:.1f} s, {gpu}")
    for attempt in e.attempts:
        print(f"attempt {attempt['attempt']} rejected at {attempt['stage']}: {attempt['reason']}")
    if e.failure:
        print(f"failure at {e.failure['stage']}: {e.failure['reason']}")
    for split in ("train", "validation"):
        if view.result and view.result.get(split):
            print(f"\n== {split} ==")
            print(format_record(view.result[split]))
    print("\n== events ==")
    for event in view.events:
        print(f"{event['at'][:19].replace('T', ' ')}  {event['kind']:<9} {event['message']}")
    if not view.events:
        print("(none)")
    if view.diff:
        print("\n== diff against the parent ==")
        print(view.diff)
    elif view.code:
        print("\n== code ==")
        print(view.code)
    return EXIT_OK


def print_leaderboard(rows: list[LeaderboardRow]) -> None:
    """The leaderboard as a table."""
    print(f"{'#':>3} {'id':<36} {'proposer':<9} {'train':>9} {'valid.':>9} {'gap':>8} {'vs x265':>9}  hypothesis")
    for r in rows:
        print(
            f"{r.rank:>3} {r.experiment_id:<36} {r.proposer:<9} {_score(r.score_train):>9} "
            f"{_score(r.score_validation):>9} {_score(r.validation_gap):>8} {_score(r.bd_rate_x265_train):>9}  "
            f"{(r.hypothesis or '')[:60]}"
        )
    if not rows:
        print("(no succeeded experiment with a score yet)")


def cmd_leaderboard(args: argparse.Namespace) -> int:
    experiments, _ = _open(args)
    try:
        benchmark = choose_benchmark(experiments, args.benchmark)
    except ValueError as error:
        raise UsageError(str(error)) from None
    rows = leaderboard_rows(experiments, args.split, args.limit, benchmark)
    if args.json:
        print_json([row.as_json() for row in rows])
    else:
        others = [b for b in known_benchmarks(experiments)["known"] if b != benchmark]
        print(
            f"benchmark {benchmark}" + (f" (the store's others: {', '.join(others)}; --benchmark ID)" if others else "")
        )
        print(f"BD-rate vs x264 on PSNR-Y, mean over the {args.split} clips (lower is better)")
        print_leaderboard(rows)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    experiments, artifacts = _open(args)
    experiment_id = resolve_experiment_id(experiments, args.id)
    view = experiment_view(experiments, artifacts, experiment_id)
    if view.code is None:
        raise UsageError(f"experiment {experiment_id} has no code (its proposal failed)")
    out = Path(args.out or Path("export") / experiment_id)
    out.mkdir(parents=True, exist_ok=True)
    files = {f"{experiment_id}.py": view.code, "experiment.json": json.dumps(view.experiment.as_record(), indent=1)}
    outcome = view.result or {}
    evaluation = outcome.get("train") or outcome.get("cascade")  # as far as the evaluation got
    if evaluation is not None:
        files["result.json"] = json.dumps(evaluation, indent=1)
    if outcome.get("validation") is not None:
        files["validation.json"] = json.dumps(outcome["validation"], indent=1)
    for name, text in files.items():
        (out / name).write_text(text)
    if args.json:
        print_json({"out": str(out), "files": sorted(files)})
    else:
        print(f"exported {', '.join(sorted(files))} to {out}")
    return EXIT_OK
