"""Proposers by name, each made on first use and then reused: the one factory the local lab
(aiv/local.py) and the AWS lab (aiv/aws/environment.py) both build on, with their own makers."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aiv.errors import ConfigError
from aiv.search.proposer import Proposer


def proposers_by_name(makers: Mapping[str, Callable[[], Proposer]]) -> Callable[[str], Proposer]:
    """A function name -> proposer that calls `makers[name]()` once; ConfigError for an unknown name."""
    made: dict[str, Proposer] = {}

    def make(name: str) -> Proposer:
        if name not in makers:
            raise ConfigError(f"unknown proposer {name!r}; known: {sorted(makers)}")
        if name not in made:
            made[name] = makers[name]()
        return made[name]

    return make


def offline_proposer() -> Proposer:
    """The offline proposer (imported on use)."""
    from aiv.search.offline import OfflineProposer

    return OfflineProposer()
