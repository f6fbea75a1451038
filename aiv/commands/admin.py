"""`aiv admin pause|resume|start-run|rerun ID|import CODEC.py --api URL`: the deployed lab's admin API, signed
with SigV4."""

from __future__ import annotations

import argparse

from aiv.commands.common import EXIT_OK, add_json_argument, print_json
from aiv.names import PROPOSERS


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "admin",
        help="pause/resume the schedule, start a run, rerun an experiment, import a codec (AWS)",
        description="Call the deployed lab's admin API (IAM auth): the request is signed with your AWS "
        "credentials (profile, environment or SSO), which need execute-api:Invoke on the API.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    pause = actions.add_parser("pause", help="disable the schedule")
    resume = actions.add_parser("resume", help="enable the schedule (the next run one period from now)")
    start = actions.add_parser("start-run", help="start an execution of the state machine")
    start.add_argument("--candidates", type=int, metavar="K", help="candidates in this run (default: the stack's)")
    start.add_argument("--proposer", choices=PROPOSERS, help="who writes them (default: the stack's)")
    start.add_argument(
        "--corpus",
        metavar="NAME",
        help="train and validate on the clip set uploaded with "
        "`aiv clips upload --corpus NAME` (default: the stack's clips)",
    )
    rerun = actions.add_parser("rerun", help="re-evaluate an experiment's code as a new experiment")
    rerun.add_argument("id", help="experiment id")
    imported = actions.add_parser(
        "import",
        help="enter your codec module into the archive and evaluate it as a seed",
        description="Send a codec module to the deployed lab: it is checked against the "
        "static policy, enters the archive like a built-in seed, and an "
        "execution starts that evaluates it on the campaign's clips (and "
        "then proposes its candidates, which may take it as a parent).",
    )
    imported.add_argument("codec", metavar="CODEC.py", help="the module (encode and decode, see the codec contract)")
    imported.add_argument("--name", help="its name in the archive (default: the file's name)")
    imported.add_argument("--candidates", type=int, metavar="K", help="candidates in that run (default: the stack's)")
    imported.add_argument("--proposer", choices=("claude", "offline"), help="who writes them (default: the stack's)")
    for action, handler in (
        (pause, _pause),
        (resume, _resume),
        (start, _start_run),
        (rerun, _rerun),
        (imported, _import),
    ):
        action.add_argument(
            "--api", required=True, metavar="URL", help="the admin API's stage URL (the stack output AdminApiUrl)"
        )
        action.add_argument("--region", help="the API's region (default: from the URL, else your AWS config)")
        add_json_argument(action)
        action.set_defaults(handler=lambda args, call=handler: _call(args, call))


def _call(args: argparse.Namespace, call) -> int:
    from aiv.aws.admin_client import AdminClient

    answer = call(AdminClient(args.api, region=args.region), args)
    if args.json:
        print_json(answer)
    elif "experiment_id" in answer:
        entered = "entered the archive as" if answer["created"] else "is already in the archive as"
        print(
            f"the codec {entered} {answer['experiment_id']}; started {answer['execution_arn']} at "
            f"{answer['started_at']} to evaluate it"
        )
    elif "execution_arn" in answer:
        print(f"started {answer['execution_arn']} at {answer['started_at']} with input {answer['input']}")
    else:
        state = "enabled" if answer["enabled"] else "paused"
        print(f"schedule {answer['expression']} {state}; next run: {answer['next_run_at'] or '-'}")
    return EXIT_OK


def _pause(client, args: argparse.Namespace) -> dict:
    return client.pause()


def _resume(client, args: argparse.Namespace) -> dict:
    return client.resume()


def _start_run(client, args: argparse.Namespace) -> dict:
    return client.start_run(candidates=args.candidates, proposer=args.proposer, corpus=args.corpus)


def _rerun(client, args: argparse.Namespace) -> dict:
    return client.rerun(args.id)


def _import(client, args: argparse.Namespace) -> dict:
    from aiv.codec.contract import load_codec

    codec = load_codec(args.codec)
    return client.import_codec(
        args.name or codec.name, codec.source, candidates=args.candidates, proposer=args.proposer
    )
