"""The Claude proposer against a local fake of the Messages API: replies, failures, retries, costs."""

import anthropic
import pytest
from fake_anthropic import TEST_API_KEY, Scripted, error_body, fake_anthropic  # noqa: F401 (the fixture)
from test_prompts import PARENT_CODE, SMOKE_FAILURE, sample_context

from aiv.errors import ConfigError
from aiv.search.claude import (
    DEFAULT_MODEL,
    MAX_MAX_TOKENS,
    PROSE_TOKENS,
    REWRITE_SLACK,
    STREAM_ABOVE_TOKENS,
    THINKING_TOKENS,
    ClaudeProposer,
    reply_budget,
)
from aiv.search.pricing import Price, price_for
from aiv.search.prompts import CODEC_CONTRACT
from aiv.search.proposer import PastAttempt, ProposalError, Rejection, Usage

MODULE = """\
import zlib

import numpy as np


def encode(y, u, v, fps, quality):
    return zlib.compress(np.concatenate([y.ravel(), u.ravel(), v.ravel()]).tobytes())


def decode(bitstream):
    raise NotImplementedError("a test module")
"""


def module_reply(code: str = MODULE, hypothesis: str = "Lossless zlib over all planes sets a rate ceiling.") -> str:
    return f"<hypothesis>\n{hypothesis}\n</hypothesis>\n\nHere is the module.\n\n```python\n{code}```\n"


def edits_reply(search: str, replace: str) -> str:
    return (
        f"<hypothesis>Finer steps.</hypothesis>\n\n```python\n<<<<<<< SEARCH\n{search}=======\n{replace}"
        ">>>>>>> REPLACE\n```\n"
    )


def proposer(**options) -> ClaudeProposer:
    return ClaudeProposer(**{"max_retries": 2, "timeout_s": 5.0, **options})


def sent_prompt(fake, number: int = 0) -> str:
    """The text of the first user turn of request `number`."""
    return "\n\n".join(block["text"] for block in fake.requests[number].body["messages"][0]["content"])


def test_a_full_module_reply_becomes_a_proposal(fake_anthropic):
    fake_anthropic.reply(module_reply(), input_tokens=5000, output_tokens=1500)
    proposal = proposer().propose(sample_context())
    assert proposal.code == MODULE
    assert proposal.hypothesis == "Lossless zlib over all planes sets a rate ceiling."
    assert proposal.parents == ["exp-parent-1"]
    assert (proposal.proposer, proposal.model) == ("claude", DEFAULT_MODEL)
    assert proposal.usage == Usage(input_tokens=5000, output_tokens=1500, usd=(5000 * 2.0 + 1500 * 10.0) / 1e6)
    assert proposal.reply == module_reply().strip()


def test_the_request_carries_model_limits_key_contract_and_prompt(fake_anthropic):
    fake_anthropic.reply(module_reply())
    proposer(model="claude-opus-5-5", max_tokens=12345).propose(sample_context())
    [request] = fake_anthropic.requests
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.headers["authorization"] == f"Bearer {TEST_API_KEY}"  # how SDK 2.x sends an API key
    assert request.headers["anthropic-version"]
    assert (request.body["model"], request.body["max_tokens"]) == ("claude-opus-5-5", 12345)
    assert request.body["thinking"] == {"type": "adaptive"} and "stream" not in request.body
    [system] = request.body["system"]
    assert CODEC_CONTRACT in system["text"] and system["cache_control"] == {"type": "ephemeral"}
    prompt = sent_prompt(fake_anthropic)
    assert PARENT_CODE.rstrip("\n") in prompt
    assert "| 0.25 | 812.4 | 31.07 | 32.50 | 0.8712 | 1.23 | 0.45 | yes | yes |" in prompt  # an RD point of the parent
    assert "| 22 | 1944.2 | 40.11 |" in prompt  # an x264 anchor point
    assert SMOKE_FAILURE in prompt


def test_the_reply_budget_fits_thinking_and_a_full_rewrite_of_the_module():
    assert reply_budget("x" * 400) == THINKING_TOKENS + 125 + PROSE_TOKENS
    assert reply_budget("x" * 58_000) == THINKING_TOKENS + round(14_500 * REWRITE_SLACK) + PROSE_TOKENS
    assert reply_budget("x" * 10_000_000) == MAX_MAX_TOKENS


def test_a_long_parent_gets_a_long_budget_and_a_streamed_reply(fake_anthropic):
    long_parent = PARENT_CODE + "".join(f"TABLE_{i} = {i}\n" for i in range(8000))
    fake_anthropic.reply(
        content=[
            {"type": "thinking", "thinking": "Plan the change.", "signature": "sig"},
            {"type": "text", "text": module_reply()},
        ],
        input_tokens=40_000,
        output_tokens=9_000,
    )
    proposal = proposer().propose(sample_context(parent_code=long_parent))
    body = fake_anthropic.requests[0].body
    assert body["stream"] is True and body["max_tokens"] == reply_budget(long_parent) > STREAM_ABOVE_TOKENS
    assert proposal.code == MODULE and proposal.usage.output_tokens == 9_000
    assert "answer with SEARCH/REPLACE edits unless you rewrite most of it" in sent_prompt(fake_anthropic)


def test_a_rejected_attempt_goes_back_as_a_conversation_and_its_repair_edits_its_own_module(fake_anthropic):
    first_reply = module_reply(MODULE, "Lossless zlib.")
    attempt = PastAttempt(
        Rejection("exp-1", "smoke", 'File "codec.py", line 11, in decode\nNotImplementedError'), first_reply, MODULE
    )
    fake_anthropic.reply(
        edits_reply('    raise NotImplementedError("a test module")\n', "    return bitstream, bitstream, bitstream\n")
    )
    proposal = proposer().propose(sample_context(attempts=(attempt,)))
    messages = fake_anthropic.requests[0].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"][0]["text"] == first_reply
    assert "rejected at the smoke stage" in messages[2]["content"][0]["text"]
    assert proposal.code == MODULE.replace(
        '    raise NotImplementedError("a test module")\n', "    return bitstream, bitstream, bitstream\n"
    )


def test_a_repair_whose_edits_miss_its_own_module_says_so(fake_anthropic):
    attempt = PastAttempt(Rejection("exp-1", "smoke", "boom"), module_reply(), MODULE)
    fake_anthropic.reply(edits_reply("    step = 99\n", "    step = 1\n"))
    with pytest.raises(ProposalError, match="the SEARCH/REPLACE edits do not apply to your previous module"):
        proposer().propose(sample_context(attempts=(attempt,)))


def test_an_edits_reply_is_applied_to_the_parent(fake_anthropic):
    search = "    step = max(1, round(40 * (1 - quality)))\n"
    replace = "    step = max(1, round(24 * (1 - quality)))\n"
    fake_anthropic.reply(edits_reply(search, replace))
    proposal = proposer().propose(sample_context())
    assert proposal.code == PARENT_CODE.replace(search, replace)
    assert proposal.hypothesis == "Finer steps."


def test_a_module_beside_prose_that_mentions_the_edit_markers_is_kept(fake_anthropic):
    prose = (
        "<hypothesis>A rewrite.</hypothesis>\nI did not use\n<<<<<<< SEARCH\nblocks, since everything changes; "
        "no `<<<<<<< SEARCH` edits here.\n\n```python\n" + MODULE + "```\n"
    )
    fake_anthropic.reply(prose)
    assert proposer().propose(sample_context()).code == MODULE


def test_a_module_and_edits_together_are_ambiguous(fake_anthropic):
    search = "    step = max(1, round(40 * (1 - quality)))\n"
    fake_anthropic.reply(edits_reply(search, search.replace("40", "24")) + "```python\n" + MODULE + "```\n")
    assert failure(fake_anthropic).reason.startswith("the reply has both a ```python module and SEARCH/REPLACE edits")


def test_an_edit_that_changes_nothing_is_a_failure_saying_so(fake_anthropic):
    search = "    step = max(1, round(40 * (1 - quality)))\n"
    fake_anthropic.reply(edits_reply(search, search))
    assert "SEARCH and REPLACE are identical, so it changes nothing" in failure(fake_anthropic).reason


def test_a_failure_keeps_the_reply_for_the_repair_turn(fake_anthropic):
    text = "<hypothesis>An idea.</hypothesis>\nI would change the quantiser."
    fake_anthropic.reply(text)
    assert failure(fake_anthropic).reply == text


def test_thinking_blocks_are_skipped(fake_anthropic):
    fake_anthropic.reply(
        content=[
            {"type": "thinking", "thinking": "Let me think.", "signature": "sig"},
            {"type": "text", "text": module_reply()},
        ]
    )
    assert proposer().propose(sample_context()).code == MODULE


def failure(fake, **options) -> ProposalError:
    with pytest.raises(ProposalError) as caught:
        proposer(**options).propose(sample_context())
    return caught.value


def test_an_edit_that_does_not_apply_is_a_failure_with_the_exact_reason_and_its_cost(fake_anthropic):
    fake_anthropic.reply(edits_reply("    step = 99\n", "    step = 1\n"), input_tokens=3000, output_tokens=200)
    error = failure(fake_anthropic)
    assert error.reason == (
        "the SEARCH/REPLACE edits do not apply to the parent: block 1 (SEARCH starting "
        "'    step = 99') does not match the current text; SEARCH must copy existing lines exactly"
    )
    assert error.usage == Usage(input_tokens=3000, output_tokens=200, usd=(3000 * 2.0 + 200 * 10.0) / 1e6)


@pytest.mark.parametrize(
    "text, reason",
    [
        (
            "<hypothesis>An idea.</hypothesis>\nI would change the quantiser.",
            "the reply has no code: send either one ```python block",
        ),
        (
            module_reply("def encode(y, u, v, fps, quality):\n    return b''\n\ndef decode(bitstream)\n    pass\n"),
            "the module does not compile: line 4: expected ':': 'def decode(bitstream)'",
        ),
        ("Here is the module.\n```python\n" + MODULE + "```\n", "the reply has no <hypothesis>...</hypothesis> tag"),
        ("<hypothesis>  </hypothesis>\n```python\n" + MODULE + "```\n", "the reply has no <hypothesis>"),
        (module_reply() + "\nAnd a helper:\n```python\nx = 1\n```\n", "the reply has 2 ```python blocks"),
        ("<hypothesis>Idea.</hypothesis>\n```python\n```\n", "the ```python block is empty"),
    ],
)
def test_unusable_replies_are_failures_saying_what_is_missing(fake_anthropic, text, reason):
    fake_anthropic.reply(text)
    error = failure(fake_anthropic)
    assert error.reason.startswith(reason), error.reason
    assert error.usage.output_tokens == 800  # the fake's default: tokens spent are still counted


@pytest.mark.parametrize(
    "content, kinds",
    [
        ([], "none"),
        ([{"type": "tool_use", "id": "toolu_1", "name": "write", "input": {}}], "tool_use"),
        ([{"type": "text", "text": "   "}], "text"),
    ],
)
def test_a_reply_without_text_is_a_failure_naming_its_blocks(fake_anthropic, content, kinds):
    fake_anthropic.reply(content=content)
    assert failure(fake_anthropic).reason.startswith(f"the reply has no text (content blocks: {kinds})")


def test_a_reply_cut_off_at_max_tokens_is_a_failure(fake_anthropic):
    fake_anthropic.reply(module_reply()[:120], stop_reason="max_tokens")
    assert failure(fake_anthropic, max_tokens=2000).reason.startswith(
        "the reply was cut off at max_tokens=2000 before it finished"
    )


def test_a_reply_cut_off_while_thinking_says_cut_off(fake_anthropic):
    fake_anthropic.reply(
        content=[{"type": "thinking", "thinking": "Hmm " * 50, "signature": "sig"}], stop_reason="max_tokens"
    )
    assert failure(fake_anthropic, max_tokens=2000).reason.startswith(
        "the reply was cut off at max_tokens=2000 while thinking, before any text"
    )


@pytest.mark.parametrize(
    "payload", [b'{"id": "msg_1", "type": "message", "content": [{"type": "te', b"not json at all"]
)
def test_a_200_whose_body_cannot_be_read_is_a_failure_naming_it(fake_anthropic, payload):
    fake_anthropic.raw(payload)
    assert failure(fake_anthropic).reason.startswith("the Messages API's reply could not be read (")


@pytest.mark.parametrize(
    "body, words",
    [
        (
            {
                "type": "message",
                "content": "oops",
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 1, "output_tokens": 1},
            },
            "its content is str, not a list of blocks",
        ),
        ({"type": "message", "content": [], "stop_reason": "end_turn"}, "no readable usage"),
    ],
)
def test_a_malformed_reply_is_a_failure_naming_the_fault(fake_anthropic, body, words):
    fake_anthropic.queue.append(Scripted(200, {"id": "msg_bad", "role": "assistant", **body}))
    reason = failure(fake_anthropic).reason
    assert reason.startswith("the Messages API's reply is malformed") and words in reason, reason


def test_a_retry_after_of_a_day_is_capped_by_the_request_timeout(fake_anthropic):
    for _ in range(2):
        fake_anthropic.queue.append(
            Scripted(429, error_body("rate_limit_error", "slow down"), {"retry-after": "86400"})
        )
    error = failure(fake_anthropic, timeout_s=0.2, max_retries=1)
    assert error.reason.startswith("the Messages API failed after 2 attempt(s): HTTP 429 rate_limit_error: slow down")
    assert error.reason.endswith("it asked to wait 86400 s before a retry, and waits are capped at 0.2 s")


def test_a_refusal_is_a_failure(fake_anthropic):
    fake_anthropic.reply("I can't help with that.", stop_reason="refusal")
    assert "refused" in failure(fake_anthropic).reason


@pytest.mark.parametrize(
    "status, error_type", [(429, "rate_limit_error"), (529, "overloaded_error"), (500, "api_error")]
)
def test_a_transient_error_then_success_is_retried_by_the_sdk(fake_anthropic, status, error_type):
    fake_anthropic.error(status, error_type, "try again")
    fake_anthropic.reply(module_reply())
    assert proposer().propose(sample_context()).code == MODULE
    assert [r.headers["x-stainless-retry-count"] for r in fake_anthropic.requests] == ["0", "1"]
    assert fake_anthropic.requests[0].body == fake_anthropic.requests[1].body


def test_exhausted_retries_are_a_failure_with_status_and_message(fake_anthropic):
    for _ in range(3):
        fake_anthropic.error(500, "api_error", "Internal server error")
    error = failure(fake_anthropic, max_retries=2)
    assert error.reason == (
        "the Messages API failed after 3 attempt(s): HTTP 500 api_error: Internal server error (request req_fake_500)"
    )
    assert len(fake_anthropic.requests) == 3 and error.usage == Usage()


def test_overload_past_the_retries_is_a_failure(fake_anthropic):
    for _ in range(2):
        fake_anthropic.error(529, "overloaded_error", "Overloaded")
    assert failure(fake_anthropic, max_retries=1).reason.startswith(
        "the Messages API failed after 2 attempt(s): HTTP 529 overloaded_error: Overloaded"
    )


def test_a_client_error_is_not_retried(fake_anthropic):
    fake_anthropic.error(400, "invalid_request_error", "max_tokens: too large")
    error = failure(fake_anthropic)
    assert error.reason.startswith(
        "the Messages API failed after 1 attempt(s): HTTP 400 invalid_request_error: max_tokens: too large"
    )
    assert len(fake_anthropic.requests) == 1


def test_timeouts_are_retried_then_a_failure(fake_anthropic):
    fake_anthropic.hang(30)
    fake_anthropic.hang(30)
    error = failure(fake_anthropic, timeout_s=0.3, max_retries=1)
    assert error.reason == "the Messages API did not answer within 0.3 s after 2 attempt(s)"
    assert len(fake_anthropic.requests) == 2


def test_a_timeout_then_success_gives_the_proposal(fake_anthropic):
    fake_anthropic.hang(30)
    fake_anthropic.reply(module_reply())
    assert proposer(timeout_s=0.3, max_retries=1).propose(sample_context()).code == MODULE


def test_usage_prices_cache_reads_and_writes(fake_anthropic):
    fake_anthropic.reply(
        module_reply(),
        usage={
            "input_tokens": 1200,
            "output_tokens": 800,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 2000,
            "cache_creation": {"ephemeral_5m_input_tokens": 1500, "ephemeral_1h_input_tokens": 500},
        },
    )
    usage = proposer().propose(sample_context()).usage
    assert (usage.input_tokens, usage.output_tokens) == (4200, 800)
    assert (usage.cache_read_tokens, usage.cache_write_tokens) == (1000, 2000)
    assert usage.usd == pytest.approx((1200 * 2.0 + 800 * 10.0 + 1500 * 2.5 + 500 * 4.0 + 1000 * 0.2) / 1e6)


def test_no_api_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="no Anthropic API key: set ANTHROPIC_API_KEY"):
        ClaudeProposer()


def test_an_unknown_model_needs_an_explicit_price(fake_anthropic):
    with pytest.raises(ConfigError, match="no price on file for model 'claude-imaginary-9'"):
        ClaudeProposer(model="claude-imaginary-9")
    price = Price(input=1.0, output=2.0, cache_write_5m=1.25, cache_write_1h=2.0, cache_read=0.1)
    fake_anthropic.reply(module_reply(), input_tokens=1_000_000, output_tokens=1_000_000)
    usage = ClaudeProposer(model="claude-imaginary-9", price=price).propose(sample_context()).usage
    assert usage.usd == pytest.approx(3.0)


@pytest.mark.parametrize("options", [{"max_tokens": 0}, {"timeout_s": 0}, {"max_retries": -1}])
def test_impossible_limits_are_refused(fake_anthropic, options):
    with pytest.raises(ConfigError, match="ClaudeProposer needs"):
        ClaudeProposer(**options)


def test_bedrock_uses_the_bedrock_client_and_model_id(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    claude = ClaudeProposer(bedrock=True, aws_region="us-east-1")
    assert isinstance(claude.client, anthropic.AnthropicBedrock)
    assert claude.client.aws_region == "us-east-1"
    assert claude.model == f"anthropic.{DEFAULT_MODEL}"
    assert claude.price == price_for(DEFAULT_MODEL)
    assert (
        ClaudeProposer(model="us.anthropic.claude-sonnet-5-5", bedrock=True, aws_region="us-west-2").model
        == "us.anthropic.claude-sonnet-5-5"
    )


def test_bedrock_without_a_region_is_a_clear_error(monkeypatch, tmp_path):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    with pytest.raises(ConfigError, match="Amazon Bedrock cannot be used: No AWS region"):
        ClaudeProposer(bedrock=True)


def test_bedrock_model_ids_are_priced_as_the_model_they_name():
    for model in (
        "anthropic.claude-sonnet-5-5",
        "us.anthropic.claude-sonnet-5-5",
        "eu.anthropic.claude-sonnet-5-5-v1:0",
    ):
        assert price_for(model) == price_for("claude-sonnet-5-5")
    assert price_for("claude-haiku-4-5-20251001") == price_for("claude-haiku-4-5")


def test_a_wrong_key_is_refused_once_and_reported(fake_anthropic, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-wrong")
    error = failure(fake_anthropic)
    assert error.reason == (
        "the Messages API failed after 1 attempt(s): HTTP 401 authentication_error: invalid x-api-key"
    )
    assert fake_anthropic.requests[0].headers["authorization"] == "Bearer sk-ant-wrong"
