"""The embedded default: a Lab on a local folder (SQLite + files) with local proposers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from aiv.pipeline.lab import Lab
from aiv.search.factory import offline_proposer, proposers_by_name
from aiv.search.proposer import Proposer
from aiv.settings import CampaignSettings
from aiv.store import open_local_store

DEFAULT_STORE = "lab"


def store_path(explicit: str | None) -> Path:
    """The local store folder: --store, else AIV_STORE, else ./lab."""
    return Path(explicit or os.environ.get("AIV_STORE") or DEFAULT_STORE)


def proposer_factory(
    model: str | None = None, bedrock: bool = False, claude_limits: dict | None = None
) -> Callable[[str], Proposer]:
    """Build proposers by name ("offline", "claude") on first use, once each.

    `claude_limits` holds ClaudeProposer keyword arguments (max_tokens, timeout_s, max_retries);
    the ones left out keep the proposer's defaults.
    """

    def claude() -> Proposer:
        from aiv.search.claude import ClaudeProposer

        options = dict(claude_limits or {}) | ({"model": model} if model else {})
        return ClaudeProposer(bedrock=bedrock, **options)

    return proposers_by_name({"offline": offline_proposer, "claude": claude})


def open_local_lab(
    path: Path,
    settings: CampaignSettings | None = None,
    make_proposer: Callable[[str], Proposer] | None = None,
    cache_dir: Path | None = None,
) -> Lab:
    """A Lab over the local store at `path`."""
    experiments, artifacts = open_local_store(path)
    return Lab(
        experiments, artifacts, settings or CampaignSettings(), make_proposer or proposer_factory(), cache_dir=cache_dir
    )
