"""The Claude proposer: asks Claude (Anthropic API or Amazon Bedrock) for one candidate codec.

Transient API failures (429, 5xx, 529 overloaded, timeouts, dropped connections) are retried by the
anthropic SDK itself, with exponential backoff that honours retry-after; what is left after
`max_retries` becomes a ProposalError with the status and the API's message. A reply is accepted
only if it carries a <hypothesis> and either one ```python module or SEARCH/REPLACE edits that apply
to the parent, and the resulting module compiles; every other outcome is a ProposalError whose
reason is written to be fed back to the model, with the tokens it cost.
"""

from __future__ import annotations

import os
import re
from typing import Any

import anthropic

from aiv.errors import ConfigError
from aiv.search.edits import SEARCH_MARK, EditError, apply_edits, parse_edits
from aiv.search.pricing import Price, cost_usd, price_for
from aiv.search.prompts import SYSTEM_PROMPT, PromptBudget, build_user_message
from aiv.search.proposer import Proposal, ProposalContext, ProposalError, Usage

DEFAULT_MODEL = "claude-sonnet-5-5"  # the current Sonnet (Claude Sonnet 5.5), checked 2026-11-21
DEFAULT_MAX_TOKENS = 16_000  # room for adaptive thinking plus a full module of a few hundred lines
DEFAULT_TIMEOUT_S = 600.0  # per attempt; a non-streaming reply of DEFAULT_MAX_TOKENS fits well inside
DEFAULT_MAX_RETRIES = 4  # SDK retries on 408/409/429/5xx/529 and connection errors, backing off up to 8 s

_HYPOTHESIS = re.compile(r"<hypothesis>(.*?)</hypothesis>", re.S)
_PYTHON_BLOCK = re.compile(r"^```(?:python3?|py)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


class ClaudeProposer:
    """A Proposer backed by Claude through the anthropic SDK (API key, or Amazon Bedrock)."""

    name = "claude"

    def __init__(self, model: str = DEFAULT_MODEL, max_tokens: int = DEFAULT_MAX_TOKENS,
                 timeout_s: float = DEFAULT_TIMEOUT_S, max_retries: int = DEFAULT_MAX_RETRIES,
                 bedrock: bool = False, aws_region: str | None = None, client: Any = None,
                 price: Price | None = None, budget: PromptBudget = PromptBudget()):
        """`client` replaces the SDK client (anything with `.messages.create`); `price` prices a model
        not in aiv/search/pricing.py. With `bedrock`, a first-party model id is sent as "anthropic.<id>"."""
        if max_tokens < 1 or timeout_s <= 0 or max_retries < 0:
            raise ConfigError(f"ClaudeProposer needs max_tokens >= 1, timeout_s > 0 and max_retries >= 0; "
                              f"got {max_tokens}, {timeout_s}, {max_retries}")
        self.model = f"anthropic.{model}" if bedrock and "anthropic." not in model else model
        self.price = price if price is not None else price_for(self.model)
        self.max_tokens, self.timeout_s, self.max_retries = max_tokens, timeout_s, max_retries
        self.budget = budget
        self.client = client if client is not None else self._make_client(bedrock, aws_region)

    def _make_client(self, bedrock: bool, aws_region: str | None) -> anthropic.Anthropic | anthropic.AnthropicBedrock:
        if bedrock:
            try:
                return anthropic.AnthropicBedrock(aws_region=aws_region, timeout=self.timeout_s,
                                                  max_retries=self.max_retries)
            except ValueError as exc:  # no region anywhere
                raise ConfigError(f"Amazon Bedrock cannot be used: {exc}") from exc
        api_key = os.environ.get("ANTHROPIC_API_KEY")
        if not api_key:
            raise ConfigError("no Anthropic API key: set ANTHROPIC_API_KEY (or use Amazon Bedrock with "
                              "bedrock=True, or the offline proposer)")
        return anthropic.Anthropic(api_key=api_key, timeout=self.timeout_s, max_retries=self.max_retries)

    def propose(self, context: ProposalContext) -> Proposal:
        """One candidate module derived from `context.parent`, or ProposalError with the reason."""
        message = self._ask(build_user_message(context, self.budget))
        usage = self._usage(message.usage)
        try:
            hypothesis, code = parse_reply(message, context.parent.code, self.max_tokens)
        except ProposalError as exc:
            raise ProposalError(exc.reason, usage) from exc
        return Proposal(code=code, hypothesis=hypothesis, parents=[context.parent.experiment_id],
                        proposer=self.name, model=self.model, usage=usage)

    def _ask(self, user_message: str) -> Any:
        """The Messages API's reply; API failures that survive the SDK's retries as ProposalError."""
        try:
            return self.client.messages.create(
                model=self.model, max_tokens=self.max_tokens,
                system=SYSTEM_PROMPT,
                messages=[{"role": "user", "content": user_message}])
        except anthropic.APIStatusError as exc:
            kind = f" {exc.type}" if exc.type else ""
            request = f" (request {exc.request_id})" if exc.request_id else ""
            raise ProposalError(f"the Messages API failed{_attempts(exc)}: HTTP {exc.status_code}{kind}: "
                                f"{exc.api_message or exc.message}{request}") from exc
        except anthropic.APITimeoutError as exc:
            raise ProposalError(f"the Messages API did not answer within {self.timeout_s:g} s{_attempts(exc)}") from exc
        except anthropic.APIError as exc:
            raise ProposalError(f"the Messages API call failed{_attempts(exc)}: {exc}") from exc

    def _usage(self, usage: Any) -> Usage:
        """Tokens (cached input included) and their cost, from a reply's `usage`."""
        cache_read = usage.cache_read_input_tokens or 0
        cache_write = usage.cache_creation_input_tokens or 0
        split = getattr(usage, "cache_creation", None)
        write_1h = split.ephemeral_1h_input_tokens if split is not None else 0
        usd = cost_usd(self.price, usage.input_tokens, usage.output_tokens,
                       cache_write_5m_tokens=cache_write - write_1h, cache_write_1h_tokens=write_1h,
                       cache_read_tokens=cache_read)
        return Usage(input_tokens=usage.input_tokens + cache_write + cache_read,
                     output_tokens=usage.output_tokens, usd=usd)


def _attempts(exc: anthropic.APIError) -> str:
    """' after N attempt(s)', read from the retry count the SDK put on the last request it sent."""
    retries = exc.request.headers.get("x-stainless-retry-count") if exc.request is not None else None
    return f" after {int(retries) + 1} attempt(s)" if retries is not None and retries.isdigit() else ""


def parse_reply(message: Any, parent_code: str, max_tokens: int) -> tuple[str, str]:
    """(hypothesis, module source) from a Messages API reply; ProposalError says what was wrong."""
    if message.stop_reason == "refusal":
        raise ProposalError("the model refused to answer (stop_reason 'refusal')")
    texts = [block.text for block in message.content if block.type == "text"]
    text = "\n".join(texts).strip()
    if not text:
        kinds = ", ".join(block.type for block in message.content) or "none"
        raise ProposalError(f"the reply has no text (content blocks: {kinds}); answer with a <hypothesis> "
                            "tag and code as text")
    if message.stop_reason == "max_tokens":
        raise ProposalError(f"the reply was cut off at max_tokens={max_tokens} before it finished; "
                            "send a shorter module or SEARCH/REPLACE edits")
    found = _HYPOTHESIS.search(text)
    if found is None or not found.group(1).strip():
        raise ProposalError("the reply has no <hypothesis>...</hypothesis> tag with one to three sentences "
                            "in it; start the reply with one")
    hypothesis = " ".join(found.group(1).split())
    code = _code_from(text, parent_code)
    try:
        compile(code, "<candidate>", "exec")
    except SyntaxError as exc:
        line = f": {exc.text.strip()!r}" if exc.text else ""
        raise ProposalError(f"the module does not compile: line {exc.lineno}: {exc.msg}{line}") from exc
    return hypothesis, code


def _code_from(text: str, parent_code: str) -> str:
    """The complete module: the parent with the reply's edits applied, or the reply's one module."""
    if SEARCH_MARK in text:
        try:
            return apply_edits(parent_code, parse_edits(text))
        except EditError as exc:
            raise ProposalError(f"the SEARCH/REPLACE edits do not apply to the parent: {exc}") from exc
    blocks = _PYTHON_BLOCK.findall(text)
    if not blocks:
        raise ProposalError("the reply has no code: send either one ```python block with the complete module "
                            "or SEARCH/REPLACE blocks on the parent")
    if len(blocks) > 1:
        raise ProposalError(f"the reply has {len(blocks)} ```python blocks; send the complete module in exactly one")
    if not blocks[0].strip():
        raise ProposalError("the ```python block is empty; put the complete module in it")
    return blocks[0]
