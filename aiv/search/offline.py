"""The offline proposer: mutates a program's PARAMS block, without a model.

It is the default when no API key is set, the baseline any model must beat, and what tests use.
A program is mutable when it has the block the built-in `hybrid` codec declares:

    # --- parameters: the offline proposer rewrites this block ---
    PARAMS = {
        "search_range": 16,  # comment
        ...
    }
    # --- end parameters ---

A proposal changes one to three parameters (block size, search range, sub-pel precision,
key-frame interval, the quantiser curve, rounding, rate-distortion weights, the entropy coder,
the loop filter), or crosses values over from another archived program, and emits the complete
module with only that block rewritten, so everything downstream treats it like any proposal.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Callable

from aiv.search.proposer import ArchiveEntry, Proposal, ProposalContext, ProposalError, Usage

BLOCK_START = "# --- parameters: the offline proposer rewrites this block ---"
BLOCK_END = "# --- end parameters ---"
CROSSOVER_SHARE = 0.25
LINE = re.compile(r'^(?P<lead>\s*"(?P<key>\w+)":\s*)(?P<value>.+?)(?P<tail>,\s*(?:#.*)?)$')


@dataclass(frozen=True)
class Gene:
    """How one parameter may change, and why one would change it (for the hypothesis)."""

    mutate: Callable[[object, random.Random], object]
    why: str


def _choice(options: tuple) -> Callable[[object, random.Random], object]:
    return lambda current, rng: rng.choice([o for o in options if o != current] or list(options))


def _scale(low: float, high: float, spread: float = 0.35) -> Callable[[object, random.Random], object]:
    def mutate(current: object, rng: random.Random) -> float:
        value = float(current) * (1.0 + rng.uniform(-spread, spread))
        return round(min(high, max(low, value)), 4)
    return mutate


def _step(low: float, high: float, width: float) -> Callable[[object, random.Random], object]:
    return lambda current, rng: round(min(high, max(low, float(current) + rng.uniform(-width, width))), 4)


GENES: dict[str, Gene] = {
    "block_size": Gene(_choice((8, 16, 32)), "a different macroblock size trades motion detail against side information"),
    "transform_size": Gene(_choice((4, 8, 16)), "a different transform size trades energy compaction against ringing"),
    "search_range": Gene(_choice((4, 8, 12, 16, 24, 32, 48)), "the motion search range decides which motion is found"),
    "subpel": Gene(_choice((1, 2, 4)), "finer motion vectors predict better but cost more bits"),
    "interp": Gene(_choice(("sixtap", "bilinear")), "the sub-pel filter shapes the prediction's sharpness"),
    "key_interval": Gene(_choice((8, 15, 30, 60, 120, 250)), "key frames reset drift but cost many bits"),
    "q_min": Gene(_scale(0.5, 12.0), "the step at high quality moves the top of the RD curve"),
    "q_max": Gene(_scale(20.0, 250.0), "the step at low quality moves the bottom of the RD curve"),
    "chroma_q_scale": Gene(_scale(0.4, 2.5), "chroma needs fewer bits than luma for the same PSNR-Y"),
    "key_q_scale": Gene(_scale(0.3, 1.5), "better key frames are better references for every P frame after them"),
    "freq_weight": Gene(_step(0.0, 3.0, 0.6), "coarser high frequencies spend bits where PSNR gains most"),
    "intra_rounding": Gene(_step(0.0, 0.5, 0.08), "the dead zone of intra blocks decides how many small levels survive"),
    "inter_rounding": Gene(_step(0.0, 0.5, 0.08), "the dead zone of inter blocks decides how many small levels survive"),
    "lambda_scale": Gene(_scale(0.01, 2.0, 0.5), "the Lagrange multiplier balances rate against distortion in every decision"),
    "coef_bit_cost": Gene(_scale(0.5, 16.0), "the estimated cost of a level decides when a block is zeroed"),
    "intra_blocks": Gene(_choice((True, False)), "intra blocks in P frames help at occlusions and cuts"),
    "loop_filter": Gene(_choice((True, False)), "deblocking in the loop improves the reference"),
    "lf_alpha": Gene(_scale(0.1, 7.0), "the deblocking edge threshold decides which edges are smoothed"),
    "lf_beta": Gene(_scale(0.02, 7.0), "the deblocking flatness threshold protects texture"),
    "lf_tc": Gene(_scale(0.01, 7.0), "the deblocking strength limits how far an edge is corrected"),
    "entropy": Gene(_choice(("arith", "lzma", "zlib", "bz2")), "the entropy coder decides how close the bits get to the symbols' information"),
    "arith_shift": Gene(_choice((3, 4, 5, 6, 7)), "the range coder's adaptation speed trades tracking against noise"),
    "lzma_lc": Gene(_choice((0, 1, 2, 3, 4)), "lzma's literal context bits decide what its model conditions on"),
}


def params_block(code: str) -> tuple[int, int, dict[str, str]] | None:
    """The PARAMS block's line span [start, end) and each key's value text, or None if the code has none."""
    lines = code.splitlines()
    try:
        start, end = lines.index(BLOCK_START), lines.index(BLOCK_END)
    except ValueError:
        return None
    values = {}
    for line in lines[start:end]:
        match = LINE.match(line)
        if match:
            values[match["key"]] = match["value"]
    return (start, end, values) if values else None


def parse_value(text: str) -> object:
    """A parameter value as written in the block: an int, float, bool or quoted string."""
    if text in ("True", "False"):
        return text == "True"
    if text[:1] in "\"'":
        return text[1:-1]
    return float(text) if any(c in text for c in ".eE") else int(text)


def render_value(value: object) -> str:
    """A parameter value as the block writes it."""
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def rewrite(code: str, changes: dict[str, object]) -> str:
    """`code` with the given PARAMS values replaced; every other line is kept as it was."""
    span = params_block(code)
    if span is None:
        raise ValueError("the module has no PARAMS block")
    start, end, _ = span
    lines = code.splitlines(keepends=True)
    for index in range(start, end):
        match = LINE.match(lines[index].rstrip("\n"))
        if match and match["key"] in changes:
            ending = "\n" if lines[index].endswith("\n") else ""
            lines[index] = f"{match['lead']}{render_value(changes[match['key']])}{match['tail']}{ending}"
    return "".join(lines)


class OfflineProposer:
    """Mutates PARAMS blocks; needs no model, costs nothing, and is deterministic given the seed."""

    name = "offline"

    def propose(self, context: ProposalContext) -> Proposal:
        """A mutation of the parent (or of the first archived program with a PARAMS block)."""
        base = next((entry for entry in [context.parent, *context.others] if params_block(entry.code)), None)
        if base is None:
            raise ProposalError("no program in the context has a PARAMS block to mutate")
        rng = random.Random(context.seed)
        values = {key: parse_value(text) for key, text in params_block(base.code)[2].items()}
        donors = [e for e in context.others if e is not base and len(_differing(values, e)) > 1]
        if donors and rng.random() < CROSSOVER_SHARE:
            changes, why = _crossover(values, rng.choice(donors), rng)
        else:
            changes, why = _mutation(values, rng)
        if not changes:
            raise ProposalError("no parameter could be changed: every gene of the block is at its only value")
        described = ", ".join(f"{key} {render_value(values[key])} -> {render_value(new)}" for key, new in changes.items())
        return Proposal(code=rewrite(base.code, changes), hypothesis=f"{described}: {why}",
                        parents=[base.experiment_id], proposer=self.name, model=None, usage=Usage())


def _mutation(values: dict[str, object], rng: random.Random) -> tuple[dict[str, object], str]:
    keys = sorted(k for k in values if k in GENES)
    chosen = rng.sample(keys, k=min(len(keys), rng.choice((1, 1, 2, 3))))
    changes = {}
    for key in chosen:
        new = GENES[key].mutate(values[key], rng)
        if new != values[key]:
            changes[key] = new
    _keep_transform_fitting(values, changes)
    return changes, "; ".join(GENES[key].why for key in changes)


def _differing(values: dict[str, object], donor: ArchiveEntry) -> dict[str, object]:
    """The donor's PARAMS values that differ from `values` (empty if it has no PARAMS block)."""
    block = params_block(donor.code)
    theirs = {key: parse_value(text) for key, text in block[2].items()} if block else {}
    return {key: theirs[key] for key in sorted(values) if key in theirs and theirs[key] != values[key]}


def _crossover(values: dict[str, object], donor: ArchiveEntry, rng: random.Random) -> tuple[dict[str, object], str]:
    """Some, never all, of the donor's differing values: taking all of them would rebuild the donor."""
    differing = _differing(values, donor)
    chosen = rng.sample(sorted(differing), k=min(len(differing) - 1, rng.choice((1, 2, 3))))
    changes = {key: differing[key] for key in chosen}
    _keep_transform_fitting(values, changes)
    return changes, f"crossing over from {donor.experiment_id}, whose score is {donor.score}"


def _keep_transform_fitting(values: dict[str, object], changes: dict[str, object]) -> None:
    """The hybrid codec needs block_size to be a multiple of 2 * transform_size: shrink the transform if not."""
    if "block_size" not in values or "transform_size" not in values:
        return
    block = changes.get("block_size", values["block_size"])
    transform = changes.get("transform_size", values["transform_size"])
    while transform > 4 and block % (2 * transform):
        transform //= 2
    if transform != values["transform_size"]:
        changes["transform_size"] = transform
    elif "transform_size" in changes:
        del changes["transform_size"]
