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
key frames and scene cuts, B frames and references, the quantiser curve, rounding and RDOQ,
rate-distortion weights, intra modes, the range coder, the loop filter), or crosses values over
from another archived program, and emits the complete module with only that block rewritten, so
everything downstream treats it like any proposal.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from aiv.search.proposer import (
    ArchiveEntry,
    Proposal,
    ProposalContext,
    ProposalError,
    Usage,
)

BLOCK_START = "# --- parameters: the offline proposer rewrites this block ---"
BLOCK_END = "# --- end parameters ---"
CROSSOVER_SHARE = 0.25
LINE = re.compile(r'^(?P<lead>\s*"(?P<key>\w+)":\s*)(?P<value>.+?)(?P<tail>,\s*(?:#.*)?)$')


@dataclass(frozen=True)
class Gene:
    """How one parameter may change, and why one would change it (for the hypothesis).

    `extremes` are the values a mutation can reach at its limits: every option of a choice, the
    bounds of a number (what the tests round-trip).
    """

    mutate: Callable[[object, random.Random], object]
    why: str
    extremes: tuple


def _choice(options: tuple, why: str) -> Gene:
    return Gene(lambda current, rng: rng.choice([o for o in options if o != current] or list(options)), why, options)


def _scale(low: float, high: float, why: str, spread: float = 0.35) -> Gene:
    def mutate(current: object, rng: random.Random) -> float:
        value = float(current) * (1.0 + rng.uniform(-spread, spread))
        return round(min(high, max(low, value)), 4)

    return Gene(mutate, why, (low, high))


def _step(low: float, high: float, width: float, why: str) -> Gene:
    return Gene(
        lambda current, rng: round(min(high, max(low, float(current) + rng.uniform(-width, width))), 4),
        why,
        (low, high),
    )


GENES: dict[str, Gene] = {
    "block_size": _choice((8, 16, 32), "a different macroblock size trades motion detail against side information"),
    "transform_size": _choice((4, 8, 16), "a different transform size trades energy compaction against ringing"),
    "search_range": _choice((4, 8, 12, 16, 24, 32, 48), "the motion search range decides which motion is found"),
    "subpel": _choice((1, 2, 4), "finer motion vectors predict better but cost more bits"),
    "interp": _choice(("sixtap", "bilinear"), "the sub-pel filter shapes the prediction's sharpness"),
    "obmc": _choice((0, 2, 4, 6, 8), "overlapped prediction softens block edges but blurs true motion edges"),
    "key_interval": _choice((8, 15, 30, 60, 120, 250), "key frames reset drift but cost many bits"),
    "scenecut": _step(0.0, 2.0, 0.3, "the scene-cut threshold decides when a new key frame beats prediction"),
    "bframes": _choice((0, 1, 3, 7), "B frames predicted from both sides are cheap, but anchors move further apart"),
    "refs": _choice((1, 2, 3, 4), "more reference frames find better matches at the cost of a reference index"),
    "q_min": _scale(0.5, 12.0, "the step at high quality moves the top of the RD curve"),
    "q_max": _scale(20.0, 250.0, "the step at low quality moves the bottom of the RD curve"),
    "chroma_q_scale": _scale(0.4, 2.5, "chroma needs fewer bits than luma for the same PSNR-Y"),
    "key_q_scale": _scale(0.3, 1.5, "better key frames are better references for every P frame after them"),
    "b_q_scale": _scale(0.8, 1.6, "B frames are referenced less, so coarser steps cost little quality"),
    "freq_weight": _step(0.0, 3.0, 0.6, "coarser high frequencies spend bits where PSNR gains most"),
    "intra_rounding": _step(0.0, 0.5, 0.08, "the dead zone of intra blocks decides how many small levels survive"),
    "inter_rounding": _step(0.0, 0.5, 0.08, "the dead zone of inter blocks decides how many small levels survive"),
    "rdoq": _choice((True, False), "rate-distortion decisions per level drop the levels not worth their bits"),
    "lambda_scale": _scale(
        0.01, 2.0, "the Lagrange multiplier balances rate against distortion in every decision", 0.5
    ),
    "coef_bit_cost": _scale(0.5, 16.0, "the estimated cost of a level decides when a block is zeroed"),
    "intra_blocks": _choice((True, False), "intra blocks in P and B frames help at occlusions and cuts"),
    "intra_modes": _choice((1, 3, 4, 6), "more intra prediction directions predict edges better but cost a mode"),
    "loop_filter": _choice((True, False), "deblocking in the loop improves the reference"),
    "lf_alpha": _scale(0.1, 7.0, "the deblocking edge threshold decides which edges are smoothed"),
    "lf_beta": _scale(0.02, 7.0, "the deblocking flatness threshold protects texture"),
    "lf_tc": _scale(0.01, 7.0, "the deblocking strength limits how far an edge is corrected"),
    "arith_shift": _choice((3, 4, 5, 6, 7), "the range coder's adaptation speed trades tracking against noise"),
    "partitions": _choice((True, False), "sub-block vectors follow motion edges at the cost of three more vectors"),
    "sub_search": _choice((1, 2, 4, 8), "a wider sub-block search finds motion the macroblock's vector missed"),
    "transform_split": _choice((True, False), "smaller transforms keep ringing inside detailed residuals"),
    "weighted_pred": _choice(
        (True, False), "a weighted reference follows fades and lighting changes that motion cannot"
    ),
    "aq_strength": _step(
        0.0, 2.0, 0.5, "adaptive quantisation moves bits from busy blocks to flat ones, where errors are seen"
    ),
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
        described = ", ".join(
            f"{key} {render_value(values[key])} -> {render_value(new)}" for key, new in changes.items()
        )
        return Proposal(
            code=rewrite(base.code, changes),
            hypothesis=f"{described}: {why}",
            parents=[base.experiment_id],
            proposer=self.name,
            model=None,
            usage=Usage(),
        )


def _mutation(values: dict[str, object], rng: random.Random, attempts: int = 8) -> tuple[dict[str, object], str]:
    """One to three genes mutated; drawn again (a few times) when the draw changed nothing."""
    keys = sorted(k for k in values if k in GENES)
    changes: dict[str, object] = {}
    for _ in range(attempts):
        chosen = rng.sample(keys, k=min(len(keys), rng.choice((1, 1, 2, 3))))
        for key in chosen:
            new = GENES[key].mutate(values[key], rng)
            if new != values[key]:
                changes[key] = new
        _keep_transform_fitting(values, changes)
        if changes:
            break
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
