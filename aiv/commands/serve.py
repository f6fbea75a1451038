"""`aiv serve`: the dashboard of the local store, in a browser."""

from __future__ import annotations

import argparse
import logging

from aiv.commands.common import EXIT_OK, add_store_argument
from aiv.errors import UsageError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve",
        help="serve the dashboard of the local store",
        description="Serve the read-only dashboard of the local store over HTTP: "
        "overview, experiments, leaderboard, costs and activity.",
    )
    add_store_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080; 0 picks a free one)")
    parser.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from aiv.local import store_path
    from aiv.store import open_local_store
    from aiv.web.app import Dashboard
    from aiv.web.server import make_server

    path = store_path(args.store)
    if not (path / "lab.sqlite").is_file():
        raise UsageError(f"no store at {path} (no {path / 'lab.sqlite'}); run `aiv run` first or pass --store")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be in 0..65535, got {args.port}")
    experiments, artifacts = open_local_store(path)
    try:
        server = make_server(Dashboard(experiments, artifacts), artifacts, args.host, args.port)
    except OSError as error:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {error}") from None
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    host, port = server.server_address[:2]
    if args.host not in LOOPBACK:
        print(f"note: listening on {args.host}, so other machines can read this dashboard", flush=True)
    print(f"serving {path} at http://{host}:{port}/ (read-only; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        server.server_close()
    return EXIT_OK
