"""The prompts: contract and rules in the system prompt; parent, results, archive and failures in the user turn."""

from aiv.search.prompts import (
    CACHE,
    CODEC_CONTRACT,
    REPLY_FORMAT,
    SYSTEM_PROMPT,
    PromptBudget,
    build_request,
    build_user_message,
    system_prompt,
    traceback_excerpts,
    truncate,
)
from aiv.search.proposer import ArchiveEntry, CampaignLimits, LineageStep, PastAttempt, ProposalContext, Rejection

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

CLIPS = [
    {
        "name": "pan_zoom",
        "source": "builtin:pan_zoom",
        "width": 352,
        "height": 288,
        "frames": 3,
        "fps": 30.0,
        "content": "a slow pan and zoom (global motion)",
        "bd_rate": {
            "x264": {
                "psnr_y": {"value": 41.37, "reason": None},
                "vmaf": {"value": None, "reason": "VMAF was not measured (--no-vmaf)"},
            },
            "x265": {
                "psnr_y": {"value": 77.5, "reason": None},
                "vmaf": {"value": None, "reason": "VMAF was not measured (--no-vmaf)"},
            },
        },
        "points": [
            {
                "quality": 0.25,
                "kbps": 812.4,
                "psnr_y": 31.07,
                "psnr_yuv": 32.5,
                "ssim_y": 0.8712,
                "vmaf": None,
                "encode_s": 1.23,
                "decode_s": 0.45,
                "psnr_y_frames": [33.04, 30.51, 29.66],
            },
            {
                "quality": 0.75,
                "kbps": 2301.9,
                "psnr_y": 41.64,
                "psnr_yuv": 42.0,
                "ssim_y": 0.9655,
                "vmaf": None,
                "encode_s": 1.5,
                "decode_s": 0.5,
                "psnr_y_frames": [42.0, 41.5, 41.42],
            },
        ],
        "anchors": {
            "x264": [{"crf": 22, "kbps": 1944.2, "psnr_y": 40.11}, {"crf": 37, "kbps": 301.6, "psnr_y": 31.0}],
            "x265": [{"crf": 22, "kbps": 1500.0, "psnr_y": 39.5}, {"crf": 37, "kbps": 250.0, "psnr_y": 30.5}],
        },
    }
]

SMOKE_FAILURE = (
    'Traceback (most recent call last):\n  File "candidate.py", line 12, in decode\n'
    "ValueError: cannot reshape array of size 4608 into shape (6,64,96)"
)
LIMITS = CampaignLimits(
    timeout_s=300.0,
    memory_mb=4096,
    module_bytes=262144,
    qualities=(0.2, 0.4, 0.6, 0.8),
    smoke_size=(96, 64),
    smoke_frames=6,
    vmaf=False,
)
LINEAGE = (
    LineageStep("exp-parent-1", "Coarser steps at low quality.", 41.37, {"pan_zoom": 41.37}, 45.0, {"pan_zoom": 45.5}),
    LineageStep("exp-seed", "built-in reference codec 'lzq'", 45.0, {"pan_zoom": 45.5}),
)


def sample_context(
    retry: Rejection | None = None,
    others: list[ArchiveEntry] | None = None,
    rejections: list[Rejection] | None = None,
    attempts: tuple[PastAttempt, ...] = (),
    parent_code: str = PARENT_CODE,
) -> ProposalContext:
    """A context like the pipeline builds: a parent with results and lineage, others, and a recent failure."""
    parent = ArchiveEntry("exp-parent-1", parent_code, "Coarser steps at low quality.", 41.37, CLIPS, LINEAGE)
    if others is None:
        others = [
            ArchiveEntry("exp-other-2", PARENT_CODE.replace("40 *", "32 *"), "Finer steps.", 12.5, CLIPS),
            ArchiveEntry("exp-other-3", PARENT_CODE.replace("lzma", "zlib"), "zlib instead.", 3.25, []),
        ]
    if rejections is None:
        rejections = [Rejection("exp-bad-4", "smoke", SMOKE_FAILURE, "Pack planes together.")]
    if retry is not None:
        attempts = (PastAttempt(retry),)
    return ProposalContext(
        parent=parent, others=others, rejections=rejections, attempts=attempts, seed=3, limits=LIMITS
    )


def test_system_prompt_carries_the_contract_rules_and_goal():
    assert CODEC_CONTRACT in SYSTEM_PROMPT
    for words in (
        "def encode(y, u, v, fps: float, quality: float) -> bytes",
        "def decode(bitstream: bytes)",
        "numpy, torch",
        "cv2",
        "math, struct, zlib, lzma, bz2, heapq, itertools, functools, collections",
        "dataclasses, typing",
        "SEPARATE sandboxed processes",
        "sees only the bitstream",
        "sockets, subprocesses",
        "monotone",
        "BD-rate against x264",
        "runtime",
    ):
        assert words in SYSTEM_PROMPT, words


def test_system_prompt_names_the_campaign_limits_and_clips():
    system = system_prompt(sample_context())
    assert system.startswith(SYSTEM_PROMPT)
    assert "300 s wall-clock timeout" in system and "4096 MB" in system and "262144 bytes" in system
    assert "Quality points: 0.2, 0.4, 0.6, 0.8." in system and "96x64, 6-frame smoke clip" in system
    assert "VMAF is not measured in this campaign" in system
    assert "pan_zoom: 352x288, 3 frames at 30.00 fps; a slow pan and zoom (global motion)" in system


def test_user_message_shows_parent_code_once_with_its_results_and_both_anchors():
    message = build_user_message(sample_context())
    assert message.count(PARENT_CODE.rstrip("\n")) == 1
    assert "# Parent program exp-parent-1" in message and "+41.37%" in message
    assert (
        "| quality | kbps | PSNR-Y dB | PSNR-YUV dB | SSIM-Y | encode s | decode s | in x264 range | in x265 range |"
        in message
    )  # no VMAF column: it was not measured
    assert "| 0.25 | 812.4 | 31.07 | 32.50 | 0.8712 | 1.23 | 0.45 | yes | yes |" in message
    assert "| 0.75 | 2301.9 | 41.64 | 42.00 | 0.9655 | 1.50 | 0.50 | no (above) | no (above) |" in message
    assert "x264 spans 31.00-40.11 dB; x265 spans 30.50-39.50 dB" in message
    assert "x264 anchor:" in message and "| 22 | 1944.2 | 40.11 |" in message and "| 37 | 301.6 | 31.00 |" in message
    assert "x265 anchor:" in message and "| 22 | 1500.0 | 39.50 |" in message
    assert "BD-rate: x264 psnr_y +41.37%; x265 psnr_y +77.50%" in message
    assert "vmaf" not in message.lower().replace("vmaf is not measured", "")


def test_per_frame_quality_is_shown_compactly():
    message = build_user_message(sample_context())
    assert "per-frame PSNR-Y at quality 0.25: 33.0 30.5 29.7" in message
    clipped = build_user_message(sample_context(), PromptBudget(frames_shown=2))
    assert "per-frame PSNR-Y at quality 0.25: 33.0 30.5 (+1 more)" in clipped


def test_vmaf_is_shown_when_it_was_measured():
    clip = dict(
        CLIPS[0],
        points=[dict(CLIPS[0]["points"][0], vmaf=91.25)],
        bd_rate={"x264": {"vmaf": {"value": 12.0, "reason": None}}},
    )
    parent = ArchiveEntry("exp-v", PARENT_CODE, "", 1.0, [clip])
    message = build_user_message(ProposalContext(parent=parent, others=[], rejections=[]))
    assert "| SSIM-Y | VMAF |" in message and "| 0.8712 | 91.25 |" in message and "x264 vmaf +12.00%" in message


def test_the_lineage_shows_each_ancestors_hypothesis_and_change_per_clip():
    message = build_user_message(sample_context())
    assert (
        "- exp-parent-1 (+41.37%, was +45.00%): Coarser steps at low quality. Per clip: pan_zoom +41.37% (-4.13)."
    ) in message
    assert "- exp-seed (+45.00%): built-in reference codec 'lzq'. Per clip: pan_zoom +45.50%." in message


def test_user_message_ends_with_the_reply_format():
    message = build_user_message(sample_context())
    assert message.endswith(REPLY_FORMAT)
    for words in (
        "<hypothesis>",
        "```python",
        "<<<<<<< SEARCH",
        "=======",
        ">>>>>>> REPLACE",
        "exactly one place",
        "must differ from its REPLACE",
    ):
        assert words in REPLY_FORMAT


def test_a_long_parent_steers_the_reply_to_edits():
    long_parent = PARENT_CODE + "".join(f"TABLE_{i} = {i}\n" for i in range(2000))
    message = build_user_message(sample_context(parent_code=long_parent), reply_tokens=30000)
    assert f"The parent is {len(long_parent)} characters" in message
    assert "answer with SEARCH/REPLACE edits unless you rewrite most of it" in message
    assert "Your reply budget is 30000 tokens, thinking included." in message
    assert "The parent is" not in build_user_message(sample_context())


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


def test_others_are_shown_as_diffs_against_the_parent():
    message = build_user_message(sample_context())
    assert "each as a unified diff against the parent exp-parent-1" in message
    assert "## exp-other-3 (score +3.25%)" in message and "Hypothesis: zlib instead." in message
    assert "-import lzma\n+import zlib" in message
    assert "-    step = max(1, round(40 * (1 - quality)))\n+    step = max(1, round(32 * (1 - quality)))" in message
    assert "Per clip (BD-rate vs x264, PSNR-Y): pan_zoom +41.37%" in message
    assert message.index("exp-other-3") < message.index("exp-other-2")  # best first


def test_others_best_scores_show_diffs_and_the_rest_only_hypotheses():
    others = [
        ArchiveEntry(f"exp-o{i}", PARENT_CODE + f"CODE_OF_O{i} = {i}\n", f"idea {i}", score, [])
        for i, score in enumerate([30.0, None, -2.0, 10.0])
    ]
    message = build_user_message(sample_context(others=others), PromptBudget(others_with_code=2))
    assert "+CODE_OF_O2" in message and "+CODE_OF_O3" in message  # the two best scores
    assert "CODE_OF_O0" not in message and "CODE_OF_O1" not in message
    assert "- exp-o0 (score +30.00%): idea 0 [diff of" in message and "- exp-o1 (score n/a): idea 1" in message


def test_others_diffs_over_budget_become_a_summary():
    others = [ArchiveEntry("exp-big", "BIG = 1\n" * 500, "huge program", -5.0, [])]
    message = build_user_message(sample_context(others=others), PromptBudget(others_code_chars=1000))
    assert "BIG = 1" not in message and "- exp-big (score -5.00%): huge program [diff of" in message


def test_another_program_with_the_parents_code_is_named_not_diffed():
    others = [ArchiveEntry("exp-twin", PARENT_CODE, "a rerun", 40.0, [])]
    assert "- exp-twin (score +40.00%): a rerun [same code as the parent]" in build_user_message(
        sample_context(others=others)
    )


def test_summaries_past_their_budget_are_counted_not_shown():
    others = [ArchiveEntry(f"exp-s{i}", "", "h" * 50, float(i), []) for i in range(10)]
    budget = PromptBudget(others_with_code=0, others_summary_chars=330)  # about 100 characters each: three fit
    message = build_user_message(sample_context(others=others), budget)
    assert "- exp-s2 " in message and "- exp-s3 " not in message and "(7 more not shown)" in message


def test_code_with_backtick_fences_is_fenced_longer():
    parent = ArchiveEntry("exp-p", 'DOC = """```python\nx\n```"""\n', "", None, [])
    message = build_user_message(ProposalContext(parent=parent, others=[], rejections=[]))
    assert "````python\nDOC = " in message
    assert "(No per-clip results are recorded for the parent.)" in message


def test_the_request_puts_cache_breakpoints_on_the_stable_prefix():
    request = build_request(sample_context())
    [system] = request["system"]
    assert system["cache_control"] == CACHE and CODEC_CONTRACT in system["text"]
    [turn] = request["messages"]
    stable, varying = turn["content"]
    assert PARENT_CODE.rstrip("\n") in stable["text"] and "exp-other-3" not in stable["text"]
    assert "exp-other-3" in varying["text"] and varying["text"].endswith(REPLY_FORMAT)
    assert stable["cache_control"] == varying["cache_control"] == CACHE


REJECTED_CODE = PARENT_CODE.replace(
    'raise NotImplementedError("parent for prompt tests")',
    "y = np.frombuffer(bitstream, np.uint8).reshape(6, 64, 96)\n    return y, y, y",
)
TRACEBACK = (
    'Traceback (most recent call last):\n  File "codec.py", line 13, in decode\n'
    "ValueError: cannot reshape array of size 4608 into shape (6,64,96)"
)


def test_a_rejected_attempt_comes_back_as_the_models_reply_and_a_repair_turn():
    reply = "<hypothesis>Decode for real.</hypothesis>\n<<<<<<< SEARCH\n...\n=======\n...\n>>>>>>> REPLACE\n"
    attempt = PastAttempt(Rejection("exp-1", "smoke", TRACEBACK, "Decode for real."), reply, REJECTED_CODE)
    request = build_request(sample_context(attempts=(attempt,)))
    _, answer, repair = request["messages"]
    assert [m["role"] for m in request["messages"]] == ["user", "assistant", "user"]
    assert answer["content"][0]["text"] == reply
    text = repair["content"][0]["text"]
    assert text.startswith("Your reply above was rejected at the smoke stage.") and TRACEBACK in text
    assert ">13 |     y = np.frombuffer(bitstream, np.uint8).reshape(6, 64, 96)" in text  # the line it points at
    assert " 12 | def decode(bitstream):" in text
    assert "SEARCH/REPLACE blocks now apply to your module above" in text
    assert repair["content"][-1]["cache_control"] == CACHE
    assert "cache_control" not in answer["content"][0]
    cached = [b for m in request["messages"] for b in m["content"] if "cache_control" in b] + request["system"]
    assert len(cached) == 4  # the API's limit


def test_a_long_rejected_reply_goes_back_as_a_diff_of_its_module():
    reply = "<hypothesis>Rewrite.</hypothesis>\n```python\n" + REJECTED_CODE + "# " + "x" * 500 + "\n```\n"
    attempt = PastAttempt(Rejection("exp-1", "smoke", TRACEBACK, "Rewrite."), reply, REJECTED_CODE)
    request = build_request(sample_context(attempts=(attempt,)), PromptBudget(reply_chars=300))
    answer = request["messages"][1]["content"][0]["text"]
    assert answer.startswith("<hypothesis>Rewrite.</hypothesis>")
    assert '-    raise NotImplementedError("parent for prompt tests")' in answer and "x" * 500 not in answer


def test_a_reply_that_made_no_module_is_repaired_against_the_parent():
    attempt = PastAttempt(Rejection("exp-1", "propose", "the reply has no code"), "<hypothesis>Idea.</hypothesis>")
    repair = build_request(sample_context(attempts=(attempt,)))["messages"][2]["content"][0]["text"]
    assert "the reply has no code" in repair and "SEARCH/REPLACE blocks now apply to the parent, as before" in repair


def test_the_retry_feedback_of_the_context_is_its_last_attempt():
    first = PastAttempt(Rejection("exp-1", "policy", "import of 'os'"))
    second = PastAttempt(Rejection("exp-1", "smoke", TRACEBACK), "reply", REJECTED_CODE)
    context = sample_context(attempts=(first, second))
    assert context.retry_feedback == second.rejection and context.edit_base == REJECTED_CODE
    assert sample_context().retry_feedback is None and sample_context().edit_base == PARENT_CODE
    assert len(build_request(context)["messages"]) == 5


def test_traceback_excerpts_skip_lines_outside_the_module():
    assert traceback_excerpts('File "codec.py", line 999, in x', PARENT_CODE) == ""
    assert traceback_excerpts('File "other.py", line 2, in x', PARENT_CODE) == ""


def test_truncate_leaves_short_text_alone():
    assert truncate("short", 10) == "short"
