"""`aiv`: the lab's command line. Errors go to stderr with a non-zero exit status."""

from __future__ import annotations

import argparse
import sys

from aiv import __version__
from aiv.commands import admin, browse, campaign, clips, compare, evaluate, importing, serve
from aiv.commands.common import EXIT_ERROR, EXIT_USAGE
from aiv.errors import AivError, ClipError, UsageError

COMMAND_MODULES = (evaluate, compare, campaign, importing, browse, serve, clips, admin)


def build_parser() -> argparse.ArgumentParser:
    """The `aiv` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="aiv", description="AiV1: discover video codecs and measure them honestly.")
    parser.add_argument("--version", action="version", version=f"aiv {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the `aiv` command; return its exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ClipError, UsageError, argparse.ArgumentTypeError) as error:
        print(f"aiv {args.command}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except AivError as error:
        print(f"aiv {args.command}: {error}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as error:  # the machine refused: a full disk, a missing permission, a vanished file
        print(f"aiv {args.command}: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"aiv {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
