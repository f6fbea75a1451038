"""aiv/search/claude_client.py: the one place the anthropic SDK client is built, for Bedrock or an API key."""

from __future__ import annotations

import anthropic
import pytest
from fake_anthropic import TEST_API_KEY

from aiv.errors import ConfigError
from aiv.search.claude_client import NO_API_KEY, claude_client


def hook(response) -> None:
    """A response hook the client must call on every response."""


def test_an_api_key_gives_an_anthropic_client_with_the_limits_and_the_hook():
    client = claude_client(bedrock=False, timeout_s=12.0, max_retries=3, on_response=hook, api_key=TEST_API_KEY)
    assert type(client) is anthropic.Anthropic and client.api_key == TEST_API_KEY
    assert (client.timeout, client.max_retries) == (12.0, 3)
    assert client._client.event_hooks["response"] == [hook]


@pytest.mark.parametrize("api_key", [None, ""])
def test_no_api_key_is_a_clear_error(api_key):
    with pytest.raises(ConfigError) as error:
        claude_client(bedrock=False, timeout_s=1.0, max_retries=0, on_response=hook, api_key=api_key)
    assert str(error.value) == NO_API_KEY


def test_bedrock_needs_no_key_and_takes_the_region(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    client = claude_client(bedrock=True, timeout_s=7.0, max_retries=1, on_response=hook, aws_region="eu-west-1")
    assert isinstance(client, anthropic.AnthropicBedrock) and client.aws_region == "eu-west-1"
    assert (client.timeout, client.max_retries) == (7.0, 1)
    assert client._client.event_hooks["response"] == [hook]


def test_bedrock_reads_the_region_of_the_aws_configuration(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert claude_client(bedrock=True, timeout_s=1.0, max_retries=0, on_response=hook).aws_region == "us-west-2"


def test_bedrock_without_a_region_is_a_clear_error(monkeypatch, tmp_path):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    with pytest.raises(ConfigError, match="Amazon Bedrock cannot be used: No AWS region"):
        claude_client(bedrock=True, timeout_s=1.0, max_retries=0, on_response=hook)
