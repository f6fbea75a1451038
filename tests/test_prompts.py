"""The prompts: contract and rules in the system prompt; parent, results, archive and failures in the user turn."""

from aiv.search.prompts import CODEC_CONTRACT, REPLY_FORMAT, SYSTEM_PROMPT, PromptBudget, build_user_message, truncate
from aiv.search.proposer import ArchiveEntry, ProposalContext, Rejection

PARENT_CODE = '''\
import lzma

import numpy as np


def encode(y, u, v, fps, quality):
    """Quantise and lzma."""
    step = max(1, round(40 * (1 - quality)))
    return bytes([step]) + lzma.compress((y // step).tobytes())


def decode(bitstream):
    raise NotImplementedError("parent for prompt tests")
'''

CLIPS = [{
    "name": "pan_zoom",
    "bd_rate": {"x264": {"psnr_y": {"value": 41.37, "reason": None},
                         "vmaf": {"value": None, "reason": "VMAF was not measured (--no-vmaf)"}},
                "x265": {"psnr_y": {"value": 77.5, "reason": None}}},
    "points": [{"quality": 0.25, "kbps": 812.4, "psnr_y": 31.07, "ssim_y": 0.8712, "vmaf": None,
                "encode_s": 1.23, "decode_s": 0.45},
               {"quality": 0.75, "kbps": 2301.9, "psnr_y": 38.64, "ssim_y": 0.9655, "vmaf": None,
                "encode_s": 1.5, "decode_s": 0.5}],
    "anchors": {"x264": [{"crf": 22, "kbps": 1944.2, "psnr_y": 40.11}, {"crf": 37, "kbps": 301.6, "psnr_y": 31.9}]},
}]

SMOKE_FAILURE = ("Traceback (most recent call last):\n  File \"candidate.py\", line 12, in decode\n"
                 "ValueError: cannot reshape array of size 4608 into shape (6,64,96)")


def sample_context(retry: Rejection | None = None, others: list[ArchiveEntry] | None = None,
                   rejections: list[Rejection] | None = None) -> ProposalContext:
    """A context like the pipeline builds: a parent with results, others, and a recent failure."""
    parent = ArchiveEntry("exp-parent-1", PARENT_CODE, "Coarser steps at low quality.", 41.37, CLIPS)
    if others is None:
        others = [ArchiveEntry("exp-other-2", "def encode(*a):\n    return b'TWO'\n", "Motion search.", 12.5, []),
                  ArchiveEntry("exp-other-3", "def encode(*a):\n    return b'THREE'\n", "Bigger blocks.", 3.25, [])]
    if rejections is None:
        rejections = [Rejection("exp-bad-4", "smoke", SMOKE_FAILURE, "Pack planes together.")]
    return ProposalContext(parent=parent, others=others, rejections=rejections, retry_feedback=retry, seed=3)


def test_system_prompt_carries_the_contract_rules_and_goal():
    assert CODEC_CONTRACT in SYSTEM_PROMPT
    for words in ("def encode(y, u, v, fps: float, quality: float) -> bytes", "def decode(bitstream: bytes)",
                  "numpy, torch", "cv2", "math, struct, zlib, lzma, bz2, heapq, itertools, functools, collections",
                  "dataclasses, typing", "SEPARATE sandboxed processes", "sees only the bitstream",
                  "sockets, subprocesses", "monotone", "BD-rate against x264", "runtime"):
        assert words in SYSTEM_PROMPT, words


def test_user_message_shows_parent_code_results_and_anchors():
    message = build_user_message(sample_context())
    assert PARENT_CODE.rstrip("\n") in message
    assert "# Parent program exp-parent-1" in message and "+41.37%" in message
    assert "| 0.25 | 812.4 | 31.07 | 0.8712 | n/a | 1.23 | 0.45 |" in message
    assert "| 0.75 | 2301.9 | 38.64 | 0.9655 | n/a | 1.50 | 0.50 |" in message
    assert "| 22 | 1944.2 | 40.11 |" in message and "| 37 | 301.6 | 31.90 |" in message
    assert "x264 psnr_y +41.37%" in message and "x265 psnr_y +77.50%" in message
    assert "x264 vmaf n/a (VMAF was not measured (--no-vmaf))" in message


def test_user_message_ends_with_the_reply_format():
    message = build_user_message(sample_context())
    assert message.endswith(REPLY_FORMAT)
    for words in ("<hypothesis>", "```python", "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE", "exactly one place"):
        assert words in REPLY_FORMAT


def test_rejections_are_shown_verbatim_with_stage_and_hypothesis():
    message = build_user_message(sample_context())
    assert SMOKE_FAILURE in message
    assert "## exp-bad-4, rejected at smoke" in message and "Hypothesis: Pack planes together." in message


def test_long_failure_text_keeps_head_and_tail_within_the_bound():
    reason = "HEAD " + "x" * 10_000 + " TAIL"
    budget = PromptBudget(rejection_chars=600)
    message = build_user_message(sample_context(rejections=[Rejection(None, "encode", reason)]), budget)
    assert "HEAD " in message and " TAIL" in message and "x" * 700 not in message
    assert f"[... {len(reason) - 600} characters cut ...]" in message
    assert "## unrecorded candidate, rejected at encode" in message


def test_only_the_most_recent_rejections_fit():
    rejections = [Rejection(f"exp-r{i}", "policy", f"reason number {i}") for i in range(12)]
    message = build_user_message(sample_context(rejections=rejections), PromptBudget(rejections=3))
    assert all(f"reason number {i}" in message for i in range(3))
    assert "reason number 3" not in message


def test_retry_feedback_comes_first_and_verbatim():
    retry = Rejection(None, "propose", "block 1 (SEARCH starting 'x = 1') does not match the current text",
                      "Smaller steps.")
    message = build_user_message(sample_context(retry=retry))
    assert message.startswith("# YOUR PREVIOUS ATTEMPT WAS REJECTED")
    assert retry.reason in message and "Stage: propose" in message
    assert message.index(retry.reason) < message.index(PARENT_CODE.splitlines()[0])


def test_no_retry_section_without_feedback():
    assert "REJECTED" not in build_user_message(sample_context())


def test_others_best_scores_show_code_and_the_rest_only_hypotheses():
    others = [ArchiveEntry(f"exp-o{i}", f"CODE_OF_O{i} = {i}\n", f"idea {i}", score, [])
              for i, score in enumerate([30.0, None, -2.0, 10.0])]
    message = build_user_message(sample_context(others=others), PromptBudget(others_with_code=2))
    assert "CODE_OF_O2" in message and "CODE_OF_O3" in message  # the two best scores
    assert "CODE_OF_O0" not in message and "CODE_OF_O1" not in message
    assert "- exp-o0 (score +30.00%): idea 0" in message and "- exp-o1 (score n/a): idea 1" in message


def test_others_code_over_budget_becomes_a_summary():
    others = [ArchiveEntry("exp-big", "BIG = 1\n" * 500, "huge program", -5.0, [])]
    message = build_user_message(sample_context(others=others), PromptBudget(others_code_chars=1000))
    assert "BIG = 1" not in message and "- exp-big (score -5.00%): huge program" in message


def test_summaries_past_their_budget_are_counted_not_shown():
    others = [ArchiveEntry(f"exp-s{i}", "", "h" * 50, float(i), []) for i in range(10)]
    budget = PromptBudget(others_with_code=0, others_summary_chars=230)  # 75 characters each: three fit
    message = build_user_message(sample_context(others=others), budget)
    assert "- exp-s2 " in message and "- exp-s3 " not in message and "(7 more not shown)" in message


def test_code_with_backtick_fences_is_fenced_longer():
    parent = ArchiveEntry("exp-p", 'DOC = """```python\nx\n```"""\n', "", None, [])
    message = build_user_message(ProposalContext(parent=parent, others=[], rejections=[]))
    assert "````python\nDOC = " in message
    assert "(No per-clip results are recorded for the parent.)" in message


def test_truncate_leaves_short_text_alone():
    assert truncate("short", 10) == "short"
