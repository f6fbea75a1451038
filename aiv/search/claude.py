"""The Claude proposer: asks Claude (Anthropic API or Amazon Bedrock) for one candidate codec.

Transient API failures (429, 5xx, 529 overloaded, timeouts, dropped connections) are retried by the
anthropic SDK itself, with exponential backoff that honours retry-after up to the request timeout;
what is left after `max_retries` becomes a ProposalError with the status and the API's message, as
does a reply the SDK cannot read (a truncated or malformed body). A reply is accepted only if it
carries a <hypothesis> and either one ```python module or SEARCH/REPLACE edits that apply to the
module being changed, and the resulting module compiles; every other outcome is a ProposalError
whose reason is written to be fed back to the model, with the tokens it cost and the reply itself.

A rejected attempt goes back as a conversation: the model's reply and the exact failure are the
next turns (aiv/search/prompts.py). The reply budget fits the ask: room for adaptive thinking plus a
full rewrite of the module being changed; long replies are streamed with the SDK's stream helper.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import anthropic
import pydantic

from aiv.cost_arithmetic import cost_usd
from aiv.errors import ConfigError
from aiv.search.claude_client import claude_client
from aiv.search.edits import EditError, apply_edits, has_marker_line, parse_edits
from aiv.search.pricing import Price, price_for
from aiv.search.prompts import PromptBudget, build_request, estimated_tokens
from aiv.search.proposer import Proposal, ProposalContext, ProposalError, Usage
from aiv.search.retry_wait import ASKED_HEADER, retry_wait_cap

DEFAULT_MODEL = "claude-sonnet-5-5"  # the current Sonnet (Claude Sonnet 5.5), checked 2026-11-21
THINKING_TOKENS = 16_000  # reply room kept for adaptive thinking
PROSE_TOKENS = 2_000  # the hypothesis and the words around the code
REWRITE_SLACK = 1.25  # a rewrite may grow the module this much
MAX_MAX_TOKENS = 64_000  # the most output tokens the current models give
STREAM_ABOVE_TOKENS = 21_333  # the SDK refuses a non-streaming request longer than this (10 min at 128k tokens/h)
DEFAULT_TIMEOUT_S = 600.0  # per attempt, and the longest wait a retry-after header may ask for
DEFAULT_MAX_RETRIES = 4  # SDK retries on 408/409/429/5xx/529 and connection errors

_HYPOTHESIS = re.compile(r"<hypothesis>(.*?)</hypothesis>", re.DOTALL)
_PYTHON_BLOCK = re.compile(r"^```(?:python3?|py)[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
_UNREADABLE_REPLY = (
    json.JSONDecodeError,
    pydantic.ValidationError,
    anthropic.APIResponseValidationError,
    UnicodeDecodeError,
)


def reply_budget(module: str) -> int:
    """max_tokens for a reply that may rewrite `module`: thinking, the rewrite with slack, and prose."""
    wanted = THINKING_TOKENS + round(estimated_tokens(module) * REWRITE_SLACK) + PROSE_TOKENS
    return min(MAX_MAX_TOKENS, wanted)


class ClaudeProposer:
    """A Proposer backed by Claude through the anthropic SDK (API key, or Amazon Bedrock)."""

    name = "claude"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        max_tokens: int | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_retries: int = DEFAULT_MAX_RETRIES,
        bedrock: bool = False,
        aws_region: str | None = None,
        client: Any = None,
        price: Price | None = None,
        budget: PromptBudget = PromptBudget(),
        thinking: bool = True,
    ):
        """`max_tokens` fixes the reply budget (default: sized per request by `reply_budget`); `client`
        replaces the SDK client (anything with `.messages.create` and `.messages.stream`); `price` prices
        a model not in aiv/search/pricing.py. With `bedrock`, a first-party model id is sent as
        "anthropic.<id>". `thinking` asks for adaptive thinking."""
        if (max_tokens is not None and max_tokens < 1) or timeout_s <= 0 or max_retries < 0:
            raise ConfigError(
                f"ClaudeProposer needs max_tokens >= 1, timeout_s > 0 and max_retries >= 0; "
                f"got {max_tokens}, {timeout_s}, {max_retries}"
            )
        self.model = f"anthropic.{model}" if bedrock and "anthropic." not in model else model
        self.price = price if price is not None else price_for(self.model)
        self.max_tokens, self.timeout_s, self.max_retries = max_tokens, timeout_s, max_retries
        self.budget, self.thinking = budget, thinking
        self.client = (
            client
            if client is not None
            else claude_client(
                bedrock=bedrock,
                timeout_s=timeout_s,
                max_retries=max_retries,
                on_response=retry_wait_cap(timeout_s),
                api_key=os.environ.get("ANTHROPIC_API_KEY"),
                aws_region=aws_region,
            )
        )

    def request(self, context: ProposalContext) -> dict:
        """The keyword arguments of the Messages API call for `context`."""
        max_tokens = self.max_tokens if self.max_tokens is not None else reply_budget(context.edit_base)
        return {
            "model": self.model,
            "max_tokens": max_tokens,
            **({"thinking": {"type": "adaptive"}} if self.thinking else {}),
            **build_request(context, self.budget, max_tokens),
        }

    def propose(self, context: ProposalContext) -> Proposal:
        """One candidate module derived from `context.edit_base`, or ProposalError with the reason."""
        request = self.request(context)
        message = self._ask(request)
        try:
            usage = self._usage(message.usage)
        except (AttributeError, TypeError) as exc:
            raise ProposalError(f"the Messages API's reply is malformed: no readable usage ({exc})") from exc
        reply = reply_text(message)
        base_name = "the parent" if context.edit_base is context.parent.code else "your previous module"
        try:
            hypothesis, code = parse_reply(message, context.edit_base, request["max_tokens"], base_name)
        except ProposalError as exc:
            raise ProposalError(exc.reason, usage, reply) from exc
        return Proposal(
            code=code,
            hypothesis=hypothesis,
            parents=[context.parent.experiment_id],
            proposer=self.name,
            model=self.model,
            usage=usage,
            reply=reply,
        )

    def _ask(self, request: dict) -> Any:
        """The Messages API's reply (streamed when long); API failures that survive the SDK's retries,
        and replies it cannot read, as ProposalError."""
        try:
            if request["max_tokens"] > STREAM_ABOVE_TOKENS:
                with self.client.messages.stream(**request) as stream:
                    return stream.get_final_message()
            return self.client.messages.create(**request)
        except anthropic.APIStatusError as exc:
            kind = f" {exc.type}" if exc.type else ""
            request_id = f" (request {exc.request_id})" if exc.request_id else ""
            raise ProposalError(
                f"the Messages API failed{_attempts(exc)}: HTTP {exc.status_code}{kind}: "
                f"{exc.api_message or exc.message}{request_id}{self._wait_note(exc)}"
            ) from exc
        except anthropic.APITimeoutError as exc:
            raise ProposalError(f"the Messages API did not answer within {self.timeout_s:g} s{_attempts(exc)}") from exc
        except anthropic.APIError as exc:
            raise ProposalError(f"the Messages API call failed{_attempts(exc)}: {exc}") from exc
        except _UNREADABLE_REPLY as exc:
            raise ProposalError(
                f"the Messages API's reply could not be read ({type(exc).__name__}: "
                f"{str(exc)[:300]}); nothing usable came back"
            ) from exc

    def _wait_note(self, exc: anthropic.APIStatusError) -> str:
        """What the last response asked to wait, when that was longer than this proposer waits."""
        asked = exc.response.headers.get(ASKED_HEADER) if exc.response is not None else None
        return (
            f"; it asked to wait {asked} s before a retry, and waits are capped at {self.timeout_s:g} s"
            if asked
            else ""
        )

    def _usage(self, usage: Any) -> Usage:
        """Tokens (cached input included) and their cost, from a reply's `usage`."""
        cache_read = usage.cache_read_input_tokens or 0
        cache_write = usage.cache_creation_input_tokens or 0
        split = getattr(usage, "cache_creation", None)
        write_1h = (split.ephemeral_1h_input_tokens or 0) if split is not None else 0
        usd = cost_usd(
            self.price,
            usage.input_tokens,
            usage.output_tokens,
            cache_write_5m_tokens=cache_write - write_1h,
            cache_write_1h_tokens=write_1h,
            cache_read_tokens=cache_read,
        )
        return Usage(
            input_tokens=usage.input_tokens + cache_write + cache_read,
            output_tokens=usage.output_tokens,
            usd=usd,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
        )


def _attempts(exc: anthropic.APIError) -> str:
    """' after N attempt(s)', read from the retry count the SDK put on the last request it sent."""
    retries = exc.request.headers.get("x-stainless-retry-count") if exc.request is not None else None
    return f" after {int(retries) + 1} attempt(s)" if retries is not None and retries.isdigit() else ""


def reply_text(message: Any) -> str | None:
    """The reply's text blocks joined, or None if its content cannot be read."""
    content = getattr(message, "content", None)
    if not isinstance(content, list):
        return None
    return "\n".join(
        block.text
        for block in content
        if getattr(block, "type", None) == "text" and isinstance(getattr(block, "text", None), str)
    ).strip()


def parse_reply(message: Any, base_code: str, max_tokens: int, base_name: str = "the parent") -> tuple[str, str]:
    """(hypothesis, module source) from a Messages API reply; SEARCH/REPLACE edits apply to `base_code`
    (`base_name` in an error). ProposalError says what was wrong."""
    content = getattr(message, "content", None)
    if not isinstance(content, list):
        raise ProposalError(
            f"the Messages API's reply is malformed: its content is {type(content).__name__}, not a list of blocks"
        )
    stop_reason = getattr(message, "stop_reason", None)
    if stop_reason == "refusal":
        raise ProposalError("the model refused to answer (stop_reason 'refusal')")
    text = reply_text(message) or ""
    if stop_reason == "max_tokens":
        where = "while thinking, before any text" if not text else "before it finished"
        raise ProposalError(
            f"the reply was cut off at max_tokens={max_tokens} {where}; think less, or send "
            "SEARCH/REPLACE edits instead of a full module"
        )
    if not text:
        kinds = ", ".join(str(getattr(block, "type", "?")) for block in content) or "none"
        raise ProposalError(
            f"the reply has no text (content blocks: {kinds}); answer with a <hypothesis> tag and code as text"
        )
    found = _HYPOTHESIS.search(text)
    if found is None or not found.group(1).strip():
        raise ProposalError(
            "the reply has no <hypothesis>...</hypothesis> tag with one to three sentences "
            "in it; start the reply with one"
        )
    hypothesis = " ".join(found.group(1).split())
    code = _code_from(text, base_code, base_name)
    try:
        compile(code, "<candidate>", "exec")
    except SyntaxError as exc:
        line = f": {exc.text.strip()!r}" if exc.text else ""
        raise ProposalError(f"the module does not compile: line {exc.lineno}: {exc.msg}{line}") from exc
    return hypothesis, code


def _code_from(text: str, base_code: str, base_name: str) -> str:
    """The complete module: `base_code` with the reply's edits applied, or the reply's one module.

    A ```python block without SEARCH/REPLACE marker lines is a module; the edits are read from the
    rest of the text, so prose that mentions a marker cannot hide a module sent whole."""
    blocks = _PYTHON_BLOCK.findall(text)
    modules = [block for block in blocks if not has_marker_line(block)]
    rest = _PYTHON_BLOCK.sub(lambda m: "" if not has_marker_line(m.group(1)) else m.group(0), text)
    try:
        edits, edit_error = parse_edits(rest), None
    except EditError as exc:
        edits, edit_error = [], exc
    if edits and modules:
        raise ProposalError("the reply has both a ```python module and SEARCH/REPLACE edits; send one or the other")
    if edits:
        try:
            return apply_edits(base_code, edits)
        except EditError as exc:
            raise ProposalError(f"the SEARCH/REPLACE edits do not apply to {base_name}: {exc}") from exc
    if not modules:
        if edit_error is not None:
            raise ProposalError(f"the SEARCH/REPLACE edits cannot be read: {edit_error}")
        raise ProposalError(
            "the reply has no code: send either one ```python block with the complete module "
            "or SEARCH/REPLACE blocks on the parent"
        )
    if len(modules) > 1:
        raise ProposalError(f"the reply has {len(modules)} ```python blocks; send the complete module in exactly one")
    if not modules[0].strip():
        raise ProposalError("the ```python block is empty; put the complete module in it")
    return modules[0]
