"""What a model proposer is told: the contract, rules and campaign (system), the archive (first user
turn), and, after a rejection, the model's own reply and the exact failure (the next turns).

CODEC_CONTRACT is the canonical summary of the contract in the lab's prompts; docs/codec-contract.md
is its long form for people. `build_request` gives the Messages API's `system` and `messages` with
prompt-cache breakpoints on the stable prefix: the system prompt, the parent (code, lineage,
results), the whole first turn (what a repair turn repeats). The parent's code is shown once; other
programs are shown as unified diffs against it, within PromptBudget.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from aiv.search.proposer import ArchiveEntry, LineageStep, PastAttempt, ProposalContext, Rejection

CHARS_PER_TOKEN = 4.0  # Python source: 58k characters of `hybrid` are about 14.5k tokens
CACHE = {"type": "ephemeral"}

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
- The module attribute DEVICE is set by the harness before encode or decode is called: "cuda" when
  the job has a CUDA GPU (torch is then already imported), else "cpu". Read it at call time and keep a
  default DEVICE = "cpu". Whatever device the encoder ran on, decode must rebuild the same frames on a
  CPU: keep reconstruction in integer arithmetic that does not depend on the device.

How it is run and measured (honest by construction):
- encode and decode run in SEPARATE sandboxed processes, each in a fresh empty folder, with no
  credentials, no network, limits on memory, CPU time and file size, and a wall-clock timeout. The
  decoder's process sees only the bitstream: no path, handle or copy of the source video.
- Files, sockets, subprocesses and ctypes are refused at run time. Do not read or write files,
  open connections or start processes; keep all state inside the bitstream.
- The harness measures the rate itself from the bitstream length (kbps = bytes * 8 * fps / frames /
  1000) and computes every metric itself: PSNR-Y, PSNR-YUV, SSIM-Y, VMAF, encode and decode seconds.
- BD-rate (Bjontegaard, piecewise cubic) is computed against real x264 and x265 encodes of the same
  frames, over the PSNR-Y range both curves cover: a point outside the anchor's range does not count.
  The headline score is the mean BD-rate vs x264 on PSNR-Y over the clips: lower is better,
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
blocks before it), on whole lines, and must differ from its REPLACE. Use edits for focused changes,
a full module for rewrites. An edit that does not apply, a reply without code, or code that does
not compile is a failure.
"""


@dataclass(frozen=True)
class PromptBudget:
    """Bounds on what a request carries: how much of the archive, of each failure text, of each turn."""

    others_with_code: int = 3  # other programs whose code is shown, as a diff against the parent
    others_code_chars: int = 24_000  # total characters of those diffs
    diff_context_lines: int = 2
    others_summary_chars: int = 6_000  # total characters of the one-line summaries of the rest
    hypothesis_chars: int = 400
    lineage: int = 6  # ancestors shown with their change per clip
    frames_shown: int = 60  # per-frame PSNR-Y values shown per point
    rejections: int = 8  # most recent rejections shown
    rejection_chars: int = 2_000  # of each rejection's reason
    retry_chars: int = 6_000  # of the reason a repair turn carries
    reply_chars: int = 20_000  # a rejected reply longer than this goes back as a diff of its module
    edits_above_chars: int = 20_000  # a parent longer than this steers the reply to SEARCH/REPLACE edits


def build_request(
    context: ProposalContext, budget: PromptBudget = PromptBudget(), reply_tokens: int | None = None
) -> dict:
    """The Messages API's `system` and `messages` for one proposal, cache breakpoints included.

    The first user turn is the archive; each earlier rejected attempt adds the model's reply and a
    repair turn with the exact failure. `reply_tokens` is the reply budget the format tells of."""
    stable, varying = first_turn(context, budget, reply_tokens)
    first = [
        {"type": "text", "text": stable, "cache_control": CACHE},
        {"type": "text", "text": varying, "cache_control": CACHE},
    ]
    messages: list[dict] = [{"role": "user", "content": first}]
    base = context.parent.code
    for attempt in context.attempts:
        messages.append(
            {"role": "assistant", "content": [{"type": "text", "text": _reply_turn(attempt, base, budget)}]}
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "text", "text": repair_turn(attempt, base is context.parent.code, budget)}],
            }
        )
        base = attempt.code if attempt.code is not None else base
    if len(messages) > 1:  # the newest turn is the next request's prefix: the fourth and last breakpoint
        messages[-1]["content"][-1]["cache_control"] = CACHE
    system = [{"type": "text", "text": system_prompt(context), "cache_control": CACHE}]
    return {"system": system, "messages": messages}


def build_user_message(
    context: ProposalContext, budget: PromptBudget = PromptBudget(), reply_tokens: int | None = None
) -> str:
    """The first user turn as one text: the parent, the other programs, recent rejections, the format."""
    return "\n\n".join(first_turn(context, budget, reply_tokens))


def first_turn(context: ProposalContext, budget: PromptBudget, reply_tokens: int | None) -> tuple[str, str]:
    """(the part that stays the same for every proposal on this parent, the part that varies)."""
    sections = []
    if context.others:
        sections.append(_others_section(context.parent, context.others, budget))
    if context.rejections:
        sections.append(_rejections_section(context.rejections, budget))
    sections.append(
        f"# Your task\nImprove the parent program {context.parent.experiment_id}.\n\n"
        f"{_size_advice(context.parent, budget, reply_tokens)}{REPLY_FORMAT}"
    )
    return _parent_section(context.parent, budget), "\n\n".join(sections)


def system_prompt(context: ProposalContext) -> str:
    """The contract and goal, then the campaign: its limits and clips (stable over a campaign)."""
    lines = [SYSTEM_PROMPT, "# This campaign"]
    limits = context.limits
    if limits is not None:
        lines += [
            (
                f"- Each encode and each decode runs under a {limits.timeout_s:g} s wall-clock timeout and a "
                f"{limits.memory_mb} MB address-space limit; the module may be at most {limits.module_bytes} bytes."
            ),
            f"- Quality points: {', '.join(f'{q:g}' for q in limits.qualities)}.",
            (
                f"- Every candidate first runs on a {limits.smoke_size[0]}x{limits.smoke_size[1]}, "
                f"{limits.smoke_frames}-frame smoke clip; a crash there is a rejection you are shown."
            ),
            "- VMAF is measured."
            if limits.vmaf
            else "- VMAF is not measured in this campaign: only PSNR and SSIM count.",
        ]
    clips = context.parent.clips
    if clips:
        lines.append("- Train clips (every score below is on these):")
        lines += [f"  - {_clip_facts(clip)}" for clip in clips]
    return "\n".join(lines) + "\n"


def truncate(text: str, limit: int) -> str:
    """`text` whole if it fits in `limit` characters, else its head and tail with the cut marked."""
    if len(text) <= limit:
        return text
    tail = limit // 3
    head = limit - tail
    return f"{text[:head]}\n[... {len(text) - head - tail} characters cut ...]\n{text[-tail:]}"


def estimated_tokens(text: str) -> int:
    """About how many tokens `text` is (source code: CHARS_PER_TOKEN characters a token)."""
    return round(len(text) / CHARS_PER_TOKEN)


def unified_diff(before: str, after: str, before_name: str, after_name: str, context_lines: int = 2) -> str:
    """A unified diff of two modules ('' when they are equal)."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), before_name, after_name, n=context_lines
        )
    )


def _clip_facts(clip: dict) -> str:
    size = f"{clip.get('width', '?')}x{clip.get('height', '?')}"
    facts = f"{clip.get('name', '?')}: {size}, {clip.get('frames', '?')} frames at {_num(clip.get('fps'), 2)} fps"
    return f"{facts}; {clip['content']}" if clip.get("content") else facts


def _size_advice(parent: ArchiveEntry, budget: PromptBudget, reply_tokens: int | None) -> str:
    if len(parent.code) <= budget.edits_above_chars:
        return ""
    room = f" Your reply budget is {reply_tokens} tokens, thinking included." if reply_tokens else ""
    return (
        f"The parent is {len(parent.code)} characters (about {estimated_tokens(parent.code)} tokens): answer "
        f"with SEARCH/REPLACE edits unless you rewrite most of it.{room}\n\n"
    )


def _parent_section(parent: ArchiveEntry, budget: PromptBudget) -> str:
    lines = [
        f"# Parent program {parent.experiment_id}",
        f"Score (mean BD-rate vs x264, PSNR-Y): {_percent(parent.score)}",
    ]
    if parent.hypothesis:
        lines.append(f"Its hypothesis: {parent.hypothesis}")
    lines += ["", _fence(parent.code, "python")]
    if parent.lineage:
        lines += ["", _lineage_section(parent.lineage[: budget.lineage], budget)]
    if parent.clips:
        vmaf = any(p.get("vmaf") is not None for clip in parent.clips for p in clip.get("points") or [])
        lines += ["", "## Parent results per clip"]
        lines += [_clip_table(clip, vmaf, budget) for clip in parent.clips]
    else:
        lines += ["", "(No per-clip results are recorded for the parent.)"]
    return "\n".join(lines)


def _lineage_section(steps: tuple[LineageStep, ...], budget: PromptBudget) -> str:
    lines = ["## Lineage (the parent first, then its ancestors): what each changed and how each clip moved"]
    for step in steps:
        change = (
            f"{_percent(step.score)}, was {_percent(step.parent_score)}"
            if step.parent_score is not None
            else _percent(step.score)
        )
        clips = ", ".join(
            f"{name} {_percent(value)}{_delta(value, step.parent_clip_scores.get(name))}"
            for name, value in step.clip_scores.items()
        )
        hypothesis = truncate(step.hypothesis, budget.hypothesis_chars).rstrip(" .") or "(no hypothesis)"
        lines.append(f"- {step.experiment_id} ({change}): {hypothesis}." + (f" Per clip: {clips}." if clips else ""))
    return "\n".join(lines)


def _delta(value: float | None, before: float | None) -> str:
    return "" if value is None or before is None else f" ({value - before:+.2f})"


def _clip_table(clip: dict, vmaf: bool, budget: PromptBudget) -> str:
    anchors = clip.get("anchors") or {}
    ranges = {name: _psnr_range(points) for name, points in anchors.items() if _psnr_range(points)}
    lines = [f"### {clip.get('name', '?')}", f"BD-rate: {_bd_rates(clip.get('bd_rate') or {}, vmaf)}"]
    if ranges:
        lines.append(
            "BD-rate counts the PSNR-Y range both curves cover: "
            + "; ".join(f"{name} spans {low:.2f}-{high:.2f} dB" for name, (low, high) in ranges.items())
        )
    header = (
        ["quality", "kbps", "PSNR-Y dB", "PSNR-YUV dB", "SSIM-Y"]
        + (["VMAF"] if vmaf else [])
        + ["encode s", "decode s"]
        + [f"in {name} range" for name in ranges]
    )
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for p in clip.get("points") or []:
        cells = (
            [
                _num(p.get("quality"), 2),
                _num(p.get("kbps"), 1),
                _num(p.get("psnr_y"), 2),
                _num(p.get("psnr_yuv"), 2),
                _num(p.get("ssim_y"), 4),
            ]
            + ([_num(p.get("vmaf"), 2)] if vmaf else [])
            + [_num(p.get("encode_s"), 2), _num(p.get("decode_s"), 2)]
            + [_inside(p.get("psnr_y"), span) for span in ranges.values()]
        )
        lines.append("| " + " | ".join(cells) + " |")
    for p in clip.get("points") or []:
        frames = p.get("psnr_y_frames") or []
        if frames:
            shown = " ".join(f"{value:.1f}" for value in frames[: budget.frames_shown])
            more = f" (+{len(frames) - budget.frames_shown} more)" if len(frames) > budget.frames_shown else ""
            lines.append(f"per-frame PSNR-Y at quality {_num(p.get('quality'), 2)}: {shown}{more}")
    for name, points in anchors.items():
        if points:
            lines += [f"{name} anchor:", "| crf | kbps | PSNR-Y dB |", "|---|---|---|"]
            lines += [
                f"| {p.get('crf', '?')} | {_num(p.get('kbps'), 1)} | {_num(p.get('psnr_y'), 2)} |" for p in points
            ]
    return "\n".join(lines)


def _psnr_range(points: list[dict]) -> tuple[float, float] | None:
    values = [p["psnr_y"] for p in points if isinstance(p.get("psnr_y"), (int, float))]
    return (min(values), max(values)) if values else None


def _inside(psnr: object, span: tuple[float, float]) -> str:
    if not isinstance(psnr, (int, float)):
        return "n/a"
    return "yes" if span[0] <= psnr <= span[1] else "no (above)" if psnr > span[1] else "no (below)"


def _bd_rates(rates: dict, vmaf: bool) -> str:
    """{"x264": {"psnr_y": {"value", "reason"}, "vmaf": {...}}, ...} as one line (VMAF only if measured)."""
    parts = []
    for anchor, metrics in rates.items():
        for metric, value in (metrics or {}).items():
            if metric == "vmaf" and not vmaf:
                continue
            if isinstance(value, dict):
                shown = (
                    _percent(value["value"])
                    if value.get("value") is not None
                    else f"n/a ({value.get('reason') or 'no reason given'})"
                )
            else:
                shown = _percent(value)
            parts.append(f"{anchor} {metric} {shown}")
    return "; ".join(parts) or "n/a"


def _others_section(parent: ArchiveEntry, others: list[ArchiveEntry], budget: PromptBudget) -> str:
    ranked = sorted(others, key=lambda entry: (entry.score is None, entry.score or 0.0))
    lines = [f"# Other strong and diverse programs, each as a unified diff against the parent {parent.experiment_id}"]
    code_left, summaries = budget.others_code_chars, []
    for rank, entry in enumerate(ranked):
        diff = unified_diff(
            parent.code, entry.code, parent.experiment_id, entry.experiment_id, budget.diff_context_lines
        )
        heading = f"{entry.experiment_id} (score {_percent(entry.score)})"
        if rank < budget.others_with_code and diff and len(diff) <= code_left:
            code_left -= len(diff)
            lines += [
                "",
                f"## {heading}",
                f"Hypothesis: {truncate(entry.hypothesis, budget.hypothesis_chars)}",
                _per_clip_line(entry),
                _fence(diff, "diff"),
            ]
        else:
            why = "same code as the parent" if not diff else f"diff of {len(diff)} characters not shown"
            summaries.append(
                f"- {heading}: {truncate(entry.hypothesis, budget.hypothesis_chars) or '(no hypothesis)'} [{why}]"
            )
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


def _per_clip_line(entry: ArchiveEntry) -> str:
    scores = []
    for clip in entry.clips:
        value = ((clip.get("bd_rate") or {}).get("x264") or {}).get("psnr_y")
        scores.append(f"{clip.get('name', '?')} {_percent(value.get('value') if isinstance(value, dict) else value)}")
    return f"Per clip (BD-rate vs x264, PSNR-Y): {', '.join(scores)}" if scores else "(no per-clip results)"


def _rejections_section(rejections: list[Rejection], budget: PromptBudget) -> str:
    lines = ["# Recent rejections of other candidates (exact failure text; do not repeat these mistakes)"]
    for rejection in rejections[: budget.rejections]:
        lines += ["", f"## {rejection.experiment_id or 'unrecorded candidate'}, rejected at {rejection.stage}"]
        if rejection.hypothesis:
            lines.append(f"Hypothesis: {truncate(rejection.hypothesis, budget.hypothesis_chars)}")
        lines.append(_fence(truncate(rejection.reason, budget.rejection_chars), "text"))
    return "\n".join(lines)


def _reply_turn(attempt: PastAttempt, base: str, budget: PromptBudget) -> str:
    """The model's rejected reply as its own turn: verbatim, or, if long, its module as a diff."""
    reply = attempt.reply
    if reply is not None and len(reply) <= budget.reply_chars:
        return reply
    hypothesis = f"<hypothesis>{attempt.rejection.hypothesis}</hypothesis>\n\n" if attempt.rejection.hypothesis else ""
    if attempt.code is not None:
        diff = unified_diff(base, attempt.code, "before", "my module", budget.diff_context_lines)
        return (
            f"{hypothesis}(My module, shown as a unified diff against the module I changed:)\n\n"
            f"{_fence(truncate(diff, budget.reply_chars), 'diff')}"
        )
    if reply is not None:
        return truncate(reply, budget.reply_chars)
    return f"{hypothesis}(This reply was not recorded.)"


def repair_turn(attempt: PastAttempt, base_is_parent: bool, budget: PromptBudget) -> str:
    """The user turn after a rejected reply: the stage, the exact failure, where it points, what to do.
    `base_is_parent`: whether the rejected reply's edits were meant for the parent (else for an earlier module)."""
    rejection = attempt.rejection
    lines = [
        f"Your reply above was rejected at the {rejection.stage} stage. The exact failure text:",
        _fence(truncate(rejection.reason, budget.retry_chars), "text"),
    ]
    if attempt.code is not None:
        excerpts = traceback_excerpts(rejection.reason, attempt.code)
        if excerpts:
            lines += ["Where it points in your module (codec.py is your module, line numbers as in it):", excerpts]
        target = "your module above (the one this failure comes from)"
    else:
        target = "the parent, as before" if base_is_parent else "your last module that was built, as before"
    lines.append(
        f"Repair it: reply in the same format. SEARCH/REPLACE blocks now apply to {target}; "
        "or send the complete module."
    )
    return "\n".join(lines)


_CODEC_LINE = re.compile(r'File "codec\.py", line (\d+)')


def traceback_excerpts(reason: str, code: str, context_lines: int = 3, most: int = 3) -> str:
    """The lines of `code` around each codec.py line a traceback names (the innermost `most`), numbered."""
    numbers = list(dict.fromkeys(int(n) for n in _CODEC_LINE.findall(reason)))[-most:]
    source = code.splitlines()
    parts = []
    for number in numbers:
        if not 1 <= number <= len(source):
            continue
        low, high = max(1, number - context_lines), min(len(source), number + context_lines)
        width = len(str(high))
        parts.append(
            "\n".join(f"{'>' if n == number else ' '}{n:>{width}} | {source[n - 1]}" for n in range(low, high + 1))
        )
    return _fence("\n...\n".join(parts), "text") if parts else ""


def _fence(text: str, language: str) -> str:
    """`text` in a fenced block whose fence is longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip(chr(10))}\n{fence}"


def _num(value: object, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}" if isinstance(value, (int, float)) else str(value)


def _percent(value: object) -> str:
    return "n/a" if value is None else f"{value:+.2f}%" if isinstance(value, (int, float)) else str(value)
