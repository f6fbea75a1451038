"""aiv/aws/claude_limits.py: one proposal's Claude call always ends inside the propose Lambda's timeout.

The arithmetic is tested, not the clock: the worst case (every try timing out, every wait at the cap)
plus the step's margin fits the Lambda; the client the propose Lambda builds has those numbers; and
a server's retry-after, which the SDK would otherwise obey however long, is capped before the SDK
reads it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import anthropic
import boto3
import httpx2
import pytest
from anthropic import _constants as sdk_constants
from awslab import SECRET, handler_module, step_event
from fake_anthropic import TEST_API_KEY, fake_anthropic  # noqa: F401 (the fixture)

from aiv.aws import claude_limits, environment
from aiv.aws.claude_limits import (
    CLAUDE_MAX_RETRIES,
    CLAUDE_REQUEST_TIMEOUT_S,
    CLAUDE_RETRY_WAIT_CAP_S,
    PROPOSE_LAMBDA_TIMEOUT_S,
    PROPOSE_MARGIN_S,
    cap_retry_after,
    worst_case_claude_s,
)
from aiv.search.claude import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_S


def test_the_worst_case_fits_the_lambda_with_its_margin():
    assert (
        worst_case_claude_s()
        == CLAUDE_REQUEST_TIMEOUT_S * (CLAUDE_MAX_RETRIES + 1) + CLAUDE_MAX_RETRIES * CLAUDE_RETRY_WAIT_CAP_S
    )
    assert 0 < PROPOSE_MARGIN_S and worst_case_claude_s() + PROPOSE_MARGIN_S <= PROPOSE_LAMBDA_TIMEOUT_S
    # The request timeout is the largest whole number of seconds that fits: nothing is wasted.
    assert worst_case_claude_s(CLAUDE_REQUEST_TIMEOUT_S + 1) + PROPOSE_MARGIN_S > PROPOSE_LAMBDA_TIMEOUT_S
    assert PROPOSE_LAMBDA_TIMEOUT_S <= 900  # Lambda's maximum


def test_the_sdks_own_backoff_is_within_the_cap():
    # Without a retry-after header the SDK waits at most MAX_RETRY_DELAY; the worst case counts the cap.
    assert sdk_constants.MAX_RETRY_DELAY <= CLAUDE_RETRY_WAIT_CAP_S


def test_the_proposers_defaults_would_outlast_the_lambda():
    """Why the Lambda does not use ClaudeProposer's defaults (600 s, 4 retries)."""
    assert (
        worst_case_claude_s(DEFAULT_TIMEOUT_S, DEFAULT_MAX_RETRIES, sdk_constants.MAX_RETRY_DELAY)
        > PROPOSE_LAMBDA_TIMEOUT_S
    )


def sdk_wait(headers: dict) -> float | None:
    """The wait the SDK reads from a response's headers after `cap_retry_after` ran on it."""
    response = httpx2.Response(529, headers=headers)
    cap_retry_after(response)
    return anthropic.Anthropic(api_key=TEST_API_KEY)._parse_retry_after_header(response.headers)


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "3600"},
        {"retry-after-ms": "3600000"},
        {"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"},
        {"retry-after-ms": "soon", "retry-after": "86400"},
    ],
)
def test_a_long_retry_after_is_capped(headers):
    assert sdk_wait(headers) == CLAUDE_RETRY_WAIT_CAP_S


@pytest.mark.parametrize("headers, wait", [({"retry-after": "2"}, 2.0), ({"retry-after-ms": "1"}, 0.001), ({}, None)])
def test_a_short_retry_after_is_left_alone(headers, wait):
    assert sdk_wait(headers) == wait


def test_the_lambdas_claude_client_has_the_limits(aws_env):
    boto3.client("secretsmanager").create_secret(Name=SECRET, SecretString=TEST_API_KEY)
    proposer = environment.claude_proposer()
    assert (proposer.timeout_s, proposer.max_retries) == (CLAUDE_REQUEST_TIMEOUT_S, CLAUDE_MAX_RETRIES)
    assert (proposer.client.timeout, proposer.client.max_retries) == (CLAUDE_REQUEST_TIMEOUT_S, CLAUDE_MAX_RETRIES)
    assert cap_retry_after in proposer.client._client.event_hooks["response"]


def test_the_bedrock_client_has_the_limits(aws_env, monkeypatch):
    monkeypatch.setenv(environment.USE_BEDROCK, "1")
    proposer = environment.claude_proposer()
    assert isinstance(proposer.client, anthropic.AnthropicBedrock) and proposer.model.startswith("anthropic.")
    assert (proposer.client.timeout, proposer.client.max_retries) == (CLAUDE_REQUEST_TIMEOUT_S, CLAUDE_MAX_RETRIES)
    assert cap_retry_after in proposer.client._client.event_hooks["response"]


def test_an_overloaded_api_is_retried_once_after_the_capped_wait_then_rejected(
    archived_parent, lab, lambda_context, fake_anthropic, monkeypatch, caplog
):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    boto3.client("secretsmanager").create_secret(Name=SECRET, SecretString=TEST_API_KEY)
    monkeypatch.setattr(claude_limits, "CLAUDE_RETRY_WAIT_CAP_S", 0.002)  # the hook reads it at each response
    for _ in range(CLAUDE_MAX_RETRIES + 1):
        fake_anthropic.error(529, "overloaded_error", "Overloaded", headers={"retry-after-ms": "3000"})
    caplog.set_level(logging.INFO, logger="anthropic")
    out = handler_module("propose").handler(
        step_event("Propose", {"run_id": "r", "proposer": "claude", "random_seed": 1}), lambda_context
    )
    assert len(fake_anthropic.requests) == CLAUDE_MAX_RETRIES + 1
    assert (out["proposed"], out["stage"]) == (False, "propose")
    assert f"after {CLAUDE_MAX_RETRIES + 1} attempt(s): HTTP 529" in out["reason"]
    waits = [record.args[1] for record in caplog.records if record.getMessage().startswith("Retrying request")]
    assert waits == [0.002] * CLAUDE_MAX_RETRIES  # the server asked for 3 s (uncapped, the SDK would wait them)


def test_the_deploy_guide_states_the_numbers_the_code_uses():
    guide = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text()
    sentence = (
        f"{CLAUDE_REQUEST_TIMEOUT_S} s per request, one SDK\nretry, and a server's `retry-after` capped at "
        f"{CLAUDE_RETRY_WAIT_CAP_S:g} s, so 2 x {CLAUDE_REQUEST_TIMEOUT_S} + {CLAUDE_RETRY_WAIT_CAP_S:g} = "
        f"{worst_case_claude_s():g} s at worst plus {PROPOSE_MARGIN_S} s"
    )
    assert CLAUDE_MAX_RETRIES == 1 and sentence in guide
