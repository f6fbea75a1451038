"""The offline proposer: PARAMS mutations and crossover that emit complete, valid modules."""

from __future__ import annotations

import difflib

import pytest

from aiv.codec.contract import builtin_source
from aiv.codec.policy import check_policy
from aiv.search.offline import OfflineProposer, params_block, parse_value, rewrite
from aiv.search.proposer import ArchiveEntry, ProposalContext, ProposalError

HYBRID = builtin_source("hybrid").source
INTRA = builtin_source("intra").source


def context(seed: int, parent: str = HYBRID, others: tuple[str, ...] = ()) -> ProposalContext:
    return ProposalContext(
        parent=ArchiveEntry("exp-parent", parent, "", 10.0, []),
        others=[ArchiveEntry(f"exp-other{i}", code, "", 20.0, []) for i, code in enumerate(others)],
        rejections=[],
        seed=seed,
    )


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), n=0, lineterm="")
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


@pytest.mark.parametrize("seed", range(8))
def test_a_proposal_changes_only_the_params_block_and_passes_policy(seed):
    proposal = OfflineProposer().propose(context(seed))
    check_policy(proposal.code)
    start, end, _ = params_block(HYBRID)
    block = set(HYBRID.splitlines()[start:end])
    removed = [line[1:] for line in changed_lines(HYBRID, proposal.code) if line.startswith("-")]
    assert removed and all(line in block for line in removed)
    assert proposal.parents == ["exp-parent"] and proposal.proposer == "offline" and proposal.usage.usd == 0
    for key in [line.split('"')[1] for line in removed]:
        assert key in proposal.hypothesis


def test_proposals_are_deterministic_per_seed_and_differ_across_seeds():
    proposer = OfflineProposer()
    assert proposer.propose(context(3)).code == proposer.propose(context(3)).code
    assert len({proposer.propose(context(seed)).code for seed in range(10)}) >= 8


def test_crossover_copies_values_from_another_program():
    donor = rewrite(HYBRID, {"search_range": 48, "bframes": 7, "key_interval": 8})
    keys = ("search_range", "bframes", "key_interval")
    parent = {k: parse_value(v) for k, v in params_block(HYBRID)[2].items()}
    crossed = [
        p
        for p in (OfflineProposer().propose(context(seed, others=(donor,))) for seed in range(40))
        if "crossing over" in p.hypothesis
    ]
    assert crossed
    for proposal in crossed:
        values = {k: parse_value(v) for k, v in params_block(proposal.code)[2].items()}
        assert [values[k] for k in keys] != [parent[k] for k in keys]


def test_crossover_never_rebuilds_the_donor():
    one_apart = rewrite(HYBRID, {"q_max": 149.1844})  # a parent one mutation away from its donor
    for seed in range(40):
        assert (
            "crossing over"
            not in OfflineProposer().propose(context(seed, parent=one_apart, others=(HYBRID,))).hypothesis
        )
    two_apart = rewrite(HYBRID, {"q_max": 149.1844, "search_range": 48})
    crossed = [
        p
        for p in (OfflineProposer().propose(context(seed, parent=two_apart, others=(HYBRID,))) for seed in range(40))
        if "crossing over" in p.hypothesis
    ]
    assert crossed and all(p.code not in (HYBRID, two_apart) for p in crossed)


def test_block_and_transform_sizes_stay_compatible():
    for seed in range(60):
        values = {k: parse_value(v) for k, v in params_block(OfflineProposer().propose(context(seed)).code)[2].items()}
        assert values["block_size"] % (2 * values["transform_size"]) == 0


def test_a_parent_without_params_falls_back_to_one_with_them():
    proposal = OfflineProposer().propose(context(1, parent=INTRA, others=(HYBRID,)))
    assert proposal.parents == ["exp-other0"]


def test_no_params_anywhere_is_a_proposal_error():
    with pytest.raises(ProposalError, match="no program in the context has a PARAMS block"):
        OfflineProposer().propose(context(1, parent=INTRA))
