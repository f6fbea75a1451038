"""What a model proposer is told: the codec contract and rules (system), and the archive view (user).

CODEC_CONTRACT is the canonical summary of the contract in the lab's prompts; docs/codec-contract.md
is its long form for people. The user message is built from a ProposalContext within PromptBudget:
the retry feedback first when there is one, then the parent's code and per-clip rate-distortion
points against the x264 anchors, a few other programs, recent rejections verbatim, and the reply
format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiv.search.proposer import ArchiveEntry, ProposalContext, Rejection

CODEC_CONTRACT = """\
A candidate codec is ONE Python module that defines:

    def encode(y, u, v, fps: float, quality: float) -> bytes
    def decode(bitstream: bytes) -> tuple[y, u, v]

- y is a numpy uint8 array [T, H, W]; u and v are numpy uint8 arrays [T, H/2, W/2] (8-bit 4:2:0).
  H and W are even, not necessarily multiples of 8 or 16.
- quality is in [0, 1]; higher means more bits and better fidelity, and it must be monotone: a codec
  whose bitstream shrinks as quality rises fails.
- decode gets nothing but the bytes encode returned and must return (y, u, v) with exactly the input
  shapes (frame count included) and dtype uint8. Anything else is a failure.
- Allowed imports: numpy, torch (CUDA when present), cv2 (OpenCV), and the standard library's pure
  computation modules math, struct, zlib, lzma, bz2, heapq, itertools, functools, collections,
  dataclasses, typing. Nothing else.

How it is run and measured (honest by construction):
- encode and decode run in SEPARATE sandboxed processes, each in a fresh empty folder, with no
  credentials, no network, limits on memory, CPU time and file size, and a wall-clock timeout. The
  decoder's process sees only the bitstream: no path, handle or copy of the source video.
- Files, sockets, subprocesses and ctypes are refused at run time. Do not read or write files,
  open connections or start processes; keep all state inside the bitstream.
- The harness measures the rate itself from the bitstream length (kbps = bytes * 8 * fps / frames /
  1000) and computes every metric itself: PSNR-Y, PSNR-YUV, SSIM-Y, VMAF, encode and decode seconds.
- BD-rate (Bjontegaard, piecewise cubic) is computed against real x264 and x265 encodes of the same
  frames. The headline score is the mean BD-rate vs x264 on PSNR-Y over the clips: lower is better,
  negative beats x264.
"""

SYSTEM_PROMPT = f"""\
You are a video-codec researcher in AiV1, a lab that searches for better video codecs written in
Python. Each turn you improve one existing program and your candidate is measured honestly.

# The codec contract
{CODEC_CONTRACT}
# The goal
Lower the BD-rate against x264 (PSNR-Y) on every clip, keeping quality monotone and encode/decode
runtime bounded (a codec that times out fails). Prefer one clear, testable idea per proposal over
many small tweaks, and learn from the results and failures you are shown.
"""

REPLY_FORMAT = """\
Reply in exactly this form:

<hypothesis>One to three sentences: what you change and why it should lower the BD-rate.</hypothesis>

Then EITHER the complete new module in ONE fenced block:

```python
...the whole module, with encode and decode...
```

OR one or more SEARCH/REPLACE blocks that edit the parent program shown above:

<<<<<<< SEARCH
lines copied exactly from the parent, indentation included
=======
the lines that replace them
>>>>>>> REPLACE

Blocks apply in order; each SEARCH must match exactly one place in the parent (as changed by the
blocks before it), on whole lines. Use edits for focused changes, a full module for rewrites.
An edit that does not apply, a reply without code, or code that does not compile is a failure.
"""


@dataclass(frozen=True)
class PromptBudget:
    """Bounds on the user message: how much of the archive and of each failure text it carries."""

    others_with_code: int = 2  # the best-scoring other programs whose code is shown
    others_code_chars: int = 40_000  # total characters of other programs' code
    others_summary_chars: int = 6_000  # total characters of the one-line summaries of the rest
    hypothesis_chars: int = 400
    rejections: int = 8  # most recent rejections shown
    rejection_chars: int = 2_000  # of each rejection's reason
    retry_chars: int = 6_000  # of the retry feedback's reason


def build_user_message(context: ProposalContext, budget: PromptBudget = PromptBudget()) -> str:
    """The user turn for one proposal: retry feedback (if any) first, then the archive, then the format."""
    sections = []
    if context.retry_feedback is not None:
        sections.append(_retry_section(context.retry_feedback, budget))
    sections.append(_parent_section(context.parent))
    if context.others:
        sections.append(_others_section(context.others, budget))
    if context.rejections:
        sections.append(_rejections_section(context.rejections, budget))
    sections.append(f"# Your task\nImprove the parent program {context.parent.experiment_id}.\n\n{REPLY_FORMAT}")
    return "\n\n".join(sections)


def truncate(text: str, limit: int) -> str:
    """`text` whole if it fits in `limit` characters, else its head and tail with the cut marked."""
    if len(text) <= limit:
        return text
    tail = limit // 3
    head = limit - tail
    return f"{text[:head]}\n[... {len(text) - head - tail} characters cut ...]\n{text[-tail:]}"


def _retry_section(feedback: Rejection, budget: PromptBudget) -> str:
    lines = ["# YOUR PREVIOUS ATTEMPT WAS REJECTED: fix this first",
             f"Stage: {feedback.stage}"]
    if feedback.hypothesis:
        lines.append(f"Its hypothesis: {truncate(feedback.hypothesis, budget.hypothesis_chars)}")
    lines += ["Exact failure text:", _fence(truncate(feedback.reason, budget.retry_chars), "text"),
              "Write a new reply that avoids this failure."]
    return "\n".join(lines)


def _parent_section(parent: ArchiveEntry) -> str:
    lines = [f"# Parent program {parent.experiment_id}",
             f"Score (mean BD-rate vs x264, PSNR-Y): {_percent(parent.score)}"]
    if parent.hypothesis:
        lines.append(f"Its hypothesis: {parent.hypothesis}")
    lines += ["", _fence(parent.code, "python")]
    if parent.clips:
        lines += ["", "## Parent results per clip"]
        lines += [_clip_table(clip) for clip in parent.clips]
    else:
        lines += ["", "(No per-clip results are recorded for the parent.)"]
    return "\n".join(lines)


def _clip_table(clip: dict) -> str:
    lines = [f"### {clip.get('name', '?')}", f"BD-rate: {_bd_rates(clip.get('bd_rate') or {})}",
             "| quality | kbps | PSNR-Y dB | SSIM-Y | VMAF | encode s | decode s |",
             "|---|---|---|---|---|---|---|"]
    for p in clip.get("points") or []:
        lines.append(f"| {_num(p.get('quality'), 2)} | {_num(p.get('kbps'), 1)} | {_num(p.get('psnr_y'), 2)} "
                     f"| {_num(p.get('ssim_y'), 4)} | {_num(p.get('vmaf'), 2)} | {_num(p.get('encode_s'), 2)} "
                     f"| {_num(p.get('decode_s'), 2)} |")
    x264 = (clip.get("anchors") or {}).get("x264") or []
    if x264:
        lines += ["x264 anchor:", "| crf | kbps | PSNR-Y dB |", "|---|---|---|"]
        lines += [f"| {p.get('crf', '?')} | {_num(p.get('kbps'), 1)} | {_num(p.get('psnr_y'), 2)} |" for p in x264]
    return "\n".join(lines)


def _bd_rates(rates: dict, prefix: str = "") -> str:
    """A nested {"x264": {"psnr_y": {"value", "reason"}}} (or plain numbers) as one line."""
    parts = []
    for key, value in rates.items():
        name = f"{prefix} {key}".strip()
        if isinstance(value, dict) and ("value" in value or "reason" in value):
            if value.get("value") is not None:
                parts.append(f"{name} {_percent(value['value'])}")
            else:
                parts.append(f"{name} n/a ({value.get('reason') or 'no reason given'})")
        elif isinstance(value, dict):
            parts.append(_bd_rates(value, name))
        else:
            parts.append(f"{name} {_percent(value)}")
    return "; ".join(part for part in parts if part) or "n/a"


def _others_section(others: list[ArchiveEntry], budget: PromptBudget) -> str:
    ranked = sorted(others, key=lambda entry: (entry.score is None, entry.score or 0.0))
    lines = ["# Other strong and diverse programs in the archive"]
    code_left, summaries = budget.others_code_chars, []
    for rank, entry in enumerate(ranked):
        if rank < budget.others_with_code and len(entry.code) <= code_left:
            code_left -= len(entry.code)
            lines += ["", f"## {entry.experiment_id} (score {_percent(entry.score)})",
                      f"Hypothesis: {truncate(entry.hypothesis, budget.hypothesis_chars)}",
                      _fence(entry.code, "python")]
        else:
            summaries.append(f"- {entry.experiment_id} (score {_percent(entry.score)}): "
                             f"{truncate(entry.hypothesis, budget.hypothesis_chars) or '(no hypothesis)'}")
    shown, left = [], budget.others_summary_chars
    for summary in summaries:
        if len(summary) > left:
            break
        shown.append(summary)
        left -= len(summary)
    if shown:
        lines += ["", "## More programs (hypothesis and score only)", *shown]
    if len(shown) < len(summaries):
        lines.append(f"({len(summaries) - len(shown)} more not shown)")
    return "\n".join(lines)


def _rejections_section(rejections: list[Rejection], budget: PromptBudget) -> str:
    lines = ["# Recent rejections (exact failure text; do not repeat these mistakes)"]
    for rejection in rejections[:budget.rejections]:
        lines += ["", f"## {rejection.experiment_id or 'unrecorded candidate'}, rejected at {rejection.stage}"]
        if rejection.hypothesis:
            lines.append(f"Hypothesis: {truncate(rejection.hypothesis, budget.hypothesis_chars)}")
        lines.append(_fence(truncate(rejection.reason, budget.rejection_chars), "text"))
    return "\n".join(lines)


def _fence(text: str, language: str) -> str:
    """`text` in a fenced block whose fence is longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip(chr(10))}\n{fence}"


def _num(value: object, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}" if isinstance(value, (int, float)) else str(value)


def _percent(value: object) -> str:
    return "n/a" if value is None else f"{value:+.2f}%" if isinstance(value, (int, float)) else str(value)
