"""A campaign of the Claude proposer against the local fake Messages API, through the real steps:
an edit with a planted bug fails at smoke, the model repairs it in the next turn of the same
conversation, then a full rewrite. Tiny clips, the `intra` seed."""

from __future__ import annotations

import pytest
from fake_anthropic import fake_anthropic  # noqa: F401 (the fixture)
from test_pipeline import anchor_cache, tiny_loader  # noqa: F401 (a fixture)

from aiv.codec.contract import builtin_source
from aiv.pipeline.lab import Lab
from aiv.runner import CampaignRun, RunOptions
from aiv.search.claude import ClaudeProposer
from aiv.settings import CampaignSettings
from aiv.store import open_local_store

INTRA = builtin_source("intra").source
CHROMA = next(line for line in INTRA.splitlines() if line.startswith("CHROMA_STEP_SCALE = "))
HEADER_POS = "    pos = _HEADER.size\n"


def edit(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


BUGGY = (
    "<hypothesis>Coarser chroma: PSNR-Y pays for chroma bits it does not measure.</hypothesis>\n\n"
    + edit(CHROMA + "\n", "CHROMA_STEP_SCALE = 2.0\n")
    + "\n"
    + edit(HEADER_POS, "    pos = _HEADER.size + 1\n")
)
REPAIR = "<hypothesis>Coarser chroma, with the stream offset restored.</hypothesis>\n\n" + edit(
    "    pos = _HEADER.size + 1\n", HEADER_POS
)
REWRITE_MODULE = INTRA.replace(CHROMA, "CHROMA_STEP_SCALE = 1.25")
REWRITE = (
    "<hypothesis>A rewrite with milder chroma steps.</hypothesis>\n\nThe whole module:\n\n```python\n"
    + REWRITE_MODULE
    + "```\n"
)


@pytest.fixture
def claude_lab(tmp_path, anchor_cache, fake_anthropic):  # noqa: F811 (fixtures)
    experiments, artifacts = open_local_store(tmp_path / "lab")
    settings = CampaignSettings(
        qualities=(0.3, 0.7),
        frames=3,
        train_clips=("moving_object",),
        validation_clips=("pan_zoom",),
        anchors=("x264",),
        timeout_s=60,
    )
    proposer = ClaudeProposer(max_retries=0, timeout_s=30.0)
    return Lab(experiments, artifacts, settings, lambda name: proposer, cache_dir=anchor_cache, clip_loader=tiny_loader)


def test_a_claude_campaign_repairs_its_own_edit_then_rewrites(claude_lab, fake_anthropic):  # noqa: F811
    for text in (BUGGY, REPAIR, REWRITE):
        fake_anthropic.reply(text, input_tokens=3000, output_tokens=900)
    run = CampaignRun(claude_lab, RunOptions(iterations=2, proposer="claude", seeds=("intra",)), report=lambda _: None)
    outcomes = [o for o in run.execute() if o.experiment_id and not o.experiment_id.startswith("exp-seed")]
    assert [o.status for o in outcomes] == ["succeeded", "succeeded"], [o.reason for o in outcomes]
    first, second = (claude_lab.experiments.get_experiment(o.experiment_id) for o in outcomes)

    assert [a["stage"] for a in first.attempts] == ["smoke"]
    assert "ValueError" in first.attempts[0]["reason"]
    repaired = claude_lab.artifacts.get(first.code_key).decode()
    assert repaired == INTRA.replace(CHROMA, "CHROMA_STEP_SCALE = 2.0")
    assert first.hypothesis == "Coarser chroma, with the stream offset restored."
    assert first.cost["input_tokens"] == 6000 and first.cost["output_tokens"] == 1800

    requests = [r.body for r in fake_anthropic.requests]
    assert len(requests) == 3
    repair_messages = requests[1]["messages"]
    assert [m["role"] for m in repair_messages] == ["user", "assistant", "user"]
    assert repair_messages[1]["content"][0]["text"] == BUGGY.strip()  # the second request carries the first reply
    repair_turn = repair_messages[2]["content"][0]["text"]
    assert "rejected at the smoke stage" in repair_turn and "ValueError" in repair_turn
    assert repair_messages[0]["content"][0] == requests[0]["messages"][0]["content"][0]  # the cached prefix, unchanged

    assert len(requests[2]["messages"]) == 1  # a new proposal starts a new conversation
    assert claude_lab.artifacts.get(second.code_key).decode() == REWRITE_MODULE
    assert second.hypothesis == "A rewrite with milder chroma steps."
