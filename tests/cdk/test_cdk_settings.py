"""stacks/settings.py: defaults, parsing of `-c key=value` strings, and clear errors for bad values."""

from __future__ import annotations

import json

import pytest

from stacks.settings import SETTINGS, Settings, SettingsError

from .cdk_app import ROOT, cdk_json_context


def test_defaults():
    settings = Settings.from_context({})
    assert settings.spot is True and settings.schedule_enabled is False and settings.use_bedrock is False
    assert settings.instance_types == ("g4dn.xlarge", "g4dn.2xlarge")
    assert settings.schedule_rate == "rate(6 hours)" and settings.budget_email is None
    assert settings.bundling == "full" and settings.campaign_json == "{}"
    assert settings.stack_name("Storage") == "AiV1-Storage"


def test_cli_strings_are_parsed():
    settings = Settings.from_context(
        {
            "spot": "false",
            "max_vcpus": "16",
            "instance_types": "g4dn.2xlarge, g4dn.4xlarge",
            "budget_usd": "12.5",
            "campaign": '{"frames": 10}',
            "model": "claude-x",
            "schedule_rate": "cron(0 3 * * ? *)",
            "budget_email": "a@b.org",
        }
    )
    assert settings.spot is False and settings.max_vcpus == 16 and settings.budget_usd == 12.5
    assert settings.instance_types == ("g4dn.2xlarge", "g4dn.4xlarge")
    assert json.loads(settings.campaign_json) == {"frames": 10} and settings.model == "claude-x"


@pytest.mark.parametrize(
    "key, value, named",
    [
        ("spot", "maybe", "true or false"),
        ("max_vcpus", "2", "at least 4"),
        ("max_vcpus", "eight", "whole number"),
        ("instance_types", "p3.2xlarge", "known GPU instance types"),
        ("candidates", "0", "from 1 to 200"),
        ("candidates", "201", "from 1 to 200"),
        ("proposer", "gpt", "one of"),
        ("schedule_rate", "every 6 hours", "rate(N"),
        ("budget_email", "nobody", "not an email"),
        ("campaign", '{"frame": 3}', "unknown fields ['frame']"),
        ("campaign", "[1]", "JSON object"),
        ("runnable_timeout_minutes", "5", "from 10 to 1440"),
        ("log_retention_days", "10", "must be one of"),
        ("bundling", "docker", "must be one of"),
        ("project", "1abc", "start with a letter"),
        ("existing_experiments_table", "a b", "not a valid name"),
        ("existing_artifacts_bucket", "Upper_Case", "not a valid name"),
    ],
)
def test_bad_values_name_the_key(key, value, named):
    with pytest.raises(SettingsError, match=f"'{key}'") as error:
        Settings.from_context({key: value})
    assert named in str(error.value)


def test_cdk_json_sets_no_setting_of_ours_and_only_cdk_flags_besides():
    context = cdk_json_context()
    assert not set(context) & set(SETTINGS)  # the defaults live in stacks/settings.py only
    assert all(key.startswith("@aws-cdk/") for key in context)
    assert json.loads((ROOT / "cdk.json").read_text())["app"] == "python3 app.py"
