"""aiv.aws.environment: settings, the API key from Secrets Manager, the proposers, the Lab from the environment."""

from __future__ import annotations

import json

import boto3
import pytest
from awslab import SECRET, TINY_SETTINGS, handler_module, step_event
from fake_anthropic import TEST_API_KEY, fake_anthropic  # noqa: F401 (the fixture)

from aiv.aws import environment
from aiv.errors import ConfigError
from aiv.settings import CampaignSettings


def test_settings_come_from_aiv_settings_over_the_defaults(aws_env, monkeypatch):
    settings = environment.settings_from_env()
    assert settings.train_clips == ("tiny_pan.y4m",) and settings.anchors == ("x264",)
    assert settings.qualities == CampaignSettings().qualities
    monkeypatch.delenv(environment.SETTINGS)
    assert environment.settings_from_env() == CampaignSettings()


@pytest.mark.parametrize(
    "text, message",
    [
        ("{frames: 3}", "AIV_SETTINGS is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"frames": 3, "clips": ["a"]}', r"unknown fields \['clips'\]"),
    ],
)
def test_bad_settings_are_a_config_error_naming_the_variable(aws_env, monkeypatch, text, message):
    monkeypatch.setenv(environment.SETTINGS, text)
    with pytest.raises(ConfigError, match=message):
        environment.settings_from_env()


def test_a_missing_variable_is_named(aws_env, monkeypatch):
    monkeypatch.delenv(environment.TABLE)
    with pytest.raises(ConfigError, match="AIV_TABLE is not set"):
        environment.lab_from_env()


def test_the_lab_is_made_once_per_process(lab):
    assert environment.lab_from_env() is lab
    assert lab.settings == CampaignSettings(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in TINY_SETTINGS.items()}
    )


def test_the_api_key_is_read_from_the_secret_once(aws_env):
    client = boto3.client("secretsmanager")
    client.create_secret(Name=SECRET, SecretString="sk-ant-first\n")
    assert environment.anthropic_api_key(SECRET) == "sk-ant-first"
    client.put_secret_value(SecretId=SECRET, SecretString="sk-ant-second")
    assert environment.anthropic_api_key(SECRET) == "sk-ant-first"  # cached for the container's life
    environment.forget()
    assert environment.anthropic_api_key(SECRET) == "sk-ant-second"


def test_a_secret_without_a_value_is_a_config_error_naming_it(aws_env):
    boto3.client("secretsmanager").create_secret(Name=SECRET)  # created by the stack, value not set yet
    with pytest.raises(ConfigError, match=f"secret '{SECRET}' has no value.*put-secret-value --secret-id {SECRET}"):
        environment.anthropic_api_key(SECRET)


def test_a_missing_secret_is_a_config_error_naming_it(aws_env):
    with pytest.raises(ConfigError, match=f"secret '{SECRET}' has no value \\(or does not exist\\)"):
        environment.anthropic_api_key(SECRET)


@pytest.mark.parametrize(
    "value, message", [("   ", "is empty"), ("x7Gq-random-generated", "does not hold an Anthropic")]
)
def test_a_secret_that_is_not_a_key_is_refused(aws_env, value, message):
    boto3.client("secretsmanager").create_secret(Name=SECRET, SecretString=value)
    with pytest.raises(ConfigError, match=message):
        environment.anthropic_api_key(SECRET)


def test_bedrock_needs_no_secret(aws_env, monkeypatch):
    monkeypatch.setenv(environment.USE_BEDROCK, "1")
    monkeypatch.delenv(environment.API_KEY_SECRET)
    proposer = environment.proposer_factory()("claude")
    assert proposer.model.startswith("anthropic.")
    monkeypatch.setenv(environment.USE_BEDROCK, "yes")
    with pytest.raises(ConfigError, match="AIV_USE_BEDROCK must be '1' or '0'"):
        environment.use_bedrock()


def test_the_claude_proposer_calls_the_api_with_the_key_from_the_secret(
    archived_parent, lab, lambda_context, fake_anthropic, monkeypatch
):
    monkeypatch.delenv("ANTHROPIC_API_KEY")  # the key must come from Secrets Manager, not the environment
    boto3.client("secretsmanager").create_secret(Name=SECRET, SecretString=TEST_API_KEY)
    code = (
        lab.artifacts.get(archived_parent.code_key)
        .decode()
        .replace("# --- end parameters ---", "# tuned\n# --- end parameters ---")
    )
    fake_anthropic.reply(
        f"<hypothesis>A comment changes nothing.</hypothesis>\n\n```python\n{code}```\n",
        input_tokens=1000,
        output_tokens=200,
    )
    out = handler_module("propose").handler(
        step_event("Propose", {"run_id": "r", "proposer": "claude", "random_seed": 1}), lambda_context
    )
    assert out["proposed"] is True
    [request] = fake_anthropic.requests
    sent = (request.headers.get("x-api-key"), request.headers.get("authorization", "").removeprefix("Bearer "))
    assert TEST_API_KEY in sent
    experiment = lab.experiments.get_experiment(out["experiment_id"])
    assert experiment.model and experiment.cost["input_tokens"] == 1000
    assert json.loads(json.dumps(out)) == out
