"""`aiv compare A B [C ...]`: BD-rate of each result against the first, per clip and on average."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aiv.commands.common import EXIT_OK, add_store_argument, print_json
from aiv.errors import UsageError

SPLITS = ("train", "validation")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "compare",
        help="BD-rate of results against the first one: per clip, mean, table/JSON/CSV/plot",
        description="Compare evaluation results: the BD-rate of each against the first (the reference) on "
        "PSNR-Y, and on VMAF when both measured it, on every clip of the reference (clips are "
        "matched by the hash of the frames measured) and the mean over them. Each RESULT is a "
        "result.json written by `aiv evaluate` (or its folder) or an experiment id of the store "
        "(a unique prefix is enough).",
    )
    parser.add_argument(
        "results",
        nargs="+",
        metavar="RESULT",
        help="the reference first, then one or more others: result.json files, folders holding one, or experiment ids",
    )
    parser.add_argument(
        "--split", choices=SPLITS, default="train", help="which clips of an experiment to compare (default %(default)s)"
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the comparison as JSON")
    output.add_argument(
        "--csv", action="store_true", help="print CSV: codec, reference, clip, metric, bd_rate, reason, caveat"
    )
    parser.add_argument("--plot", metavar="FILE.png", help="also draw every clip's RD curves and anchors into a PNG")
    add_store_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from aiv.comparison import compare, comparison_csv, format_comparison

    if len(args.results) < 2:
        raise UsageError("compare needs at least two results: the reference first, then the others")
    if args.plot and not args.plot.lower().endswith(".png"):
        raise UsageError(f"--plot writes a PNG; name a .png file, got {args.plot}")
    entries = load_entries(args.results, args.split, args.store)
    comparison = compare(entries)
    if args.plot:
        from aiv.rd_plot import write_rd_plot

        write_rd_plot(entries, Path(args.plot))
    if args.json:
        print_json(comparison | {"plot": args.plot})
    elif args.csv:
        print(comparison_csv(comparison), end="")
    else:
        print(format_comparison(comparison))
        if args.plot:
            print(f"\nplot: {args.plot}")
    return EXIT_OK


def load_entries(specs: list[str], split: str, store: str | None):
    """Each RESULT as a comparison Entry: a result.json (or its folder), else an experiment of the store."""
    from aiv.comparison import Entry

    entries, store_handles = [], None
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            path = path / "result.json"
        if path.is_file():
            record = _read_json(path)
            entries.append(Entry(_label(path), str(path), _evaluation(record, split, str(path))))
            continue
        if path.suffix == ".json" or "/" in spec:
            raise UsageError(f"{spec}: no such result file")
        if store_handles is None:
            store_handles = _open_store(store, spec)
        experiment_id, record = _experiment_result(store_handles, spec)
        entries.append(Entry(experiment_id, f"experiment {experiment_id}", _evaluation(record, split, experiment_id)))
    return entries


def _label(path: Path) -> str:
    """A short name for a result file: its folder's name for result.json, else the file's stem."""
    return path.parent.name if path.name == "result.json" and path.parent.name else path.stem


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"{path}: cannot be read ({exc.strerror if isinstance(exc, OSError) else exc.reason})"
        ) from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None


def _evaluation(record: dict, split: str, source: str) -> dict:
    """The evaluation record of `split` from an experiment's result document, or the record itself."""
    if isinstance(record, dict) and "train" in record and "clips" not in record:
        if record.get(split) is None:
            raise UsageError(f"{source}: has no {split} evaluation (status {record.get('status')})")
        return record[split]
    return record


def _open_store(store: str | None, spec: str):
    from aiv.local import store_path
    from aiv.store import open_local_store

    path = store_path(store)
    if not path.exists():
        raise UsageError(
            f"{spec}: no such file, and no store at {path} to look it up as an experiment id (pass --store)"
        )
    return open_local_store(path)


def _experiment_result(store_handles, spec: str) -> tuple[str, dict]:
    from aiv.commands.common import resolve_experiment_id

    experiments, artifacts = store_handles
    experiment = experiments.get_experiment(resolve_experiment_id(experiments, spec))
    if not experiment.result_key:
        raise UsageError(f"experiment {experiment.id} has no evaluation (status {experiment.status})")
    return experiment.id, json.loads(artifacts.get(experiment.result_key))
