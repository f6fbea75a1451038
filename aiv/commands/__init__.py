"""Handlers of the `aiv` subcommands; aiv/cli.py builds the parser and dispatches to them."""
