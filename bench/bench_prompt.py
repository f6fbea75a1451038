"""How big is one Claude request, and what is in it? Measured on a campaign store.

    python bench/bench_prompt.py --store DIR [--parent EXPERIMENT_ID]

Builds the request the Claude proposer would send to improve `--parent` (default: the `hybrid`
seed) from the store's archive, exactly as a campaign does, and prints its size in characters (the
system prompt, the cached prefix, the rest), the parent's code and its share, how many other
programs are shown with code (as diffs) and how many only by name, and the reply budget. Tokens
are not counted: that needs the Messages API's count_tokens call; the estimate printed is the
characters divided by aiv.search.prompts.CHARS_PER_TOKEN, labelled as such. Nothing is sent.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from aiv.codec.contract import builtin_source
from aiv.search.archive import build_context
from aiv.search.claude import ClaudeProposer
from aiv.search.pricing import price_for
from aiv.search.prompts import CHARS_PER_TOKEN
from aiv.settings import CampaignSettings
from aiv.store import open_local_store


def text_of(blocks: list[dict]) -> str:
    return "".join(block["text"] for block in blocks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="a campaign store folder (say, one bench_campaign.py left)")
    parser.add_argument("--parent", help="the experiment to improve (default: the hybrid seed)")
    args = parser.parse_args()
    if not (Path(args.store) / "lab.sqlite").exists():
        parser.error(f"{args.store} holds no lab.sqlite")
    experiments, artifacts = open_local_store(args.store)
    parent = (
        experiments.get_experiment(args.parent)
        if args.parent
        else next(iter(experiments.find_by_code(builtin_source("hybrid").sha256)), None)
    )
    if parent is None or parent.status != "succeeded":
        parser.error(f"no succeeded parent {args.parent or 'hybrid seed'} in {args.store}")
    context = build_context(
        experiments,
        artifacts,
        parent,
        seed=random.Random(0).randrange(1000),
        settings=CampaignSettings(),
        benchmark=parent.benchmark,
    )
    proposer = ClaudeProposer(client=object(), price=price_for("claude-sonnet-5-5"))
    request = proposer.request(context)
    system = text_of(request["system"])
    stable, varying = (block["text"] for block in request["messages"][0]["content"])
    total = len(system) + len(stable) + len(varying)
    shown = [e.experiment_id for e in context.others if f"## {e.experiment_id} (score" in varying]
    print(f"parent {parent.id}: code {len(context.parent.code)} characters, score {parent.score:+.2f}%")
    print(
        f"request: {total} characters (~{round(total / CHARS_PER_TOKEN)} tokens estimated at "
        f"{CHARS_PER_TOKEN:g} characters a token, not counted)"
    )
    print(
        f"  system {len(system)}, first turn's cached prefix (parent, lineage, results) {len(stable)}, "
        f"the rest (others, rejections, task) {len(varying)}"
    )
    print(f"  cache breakpoints: {json.dumps(request).count('cache_control')}")
    print(f"parent code share: {len(context.parent.code) / total:.1%}")
    print(
        f"other programs: {len(context.others)} chosen, {len(shown)} shown with code (as diffs): "
        f"{', '.join(shown) or '-'}"
    )
    print(f"reply budget: max_tokens {request['max_tokens']}, thinking {request.get('thinking')}")


if __name__ == "__main__":
    main()
