"""An imported codec through the admin API: the admin Lambda on moto (S3, DynamoDB, Step Functions) and
`aiv admin import` through the signed API."""

from __future__ import annotations

import json

import boto3
from awslab import ACCOUNT, REGION, STATE_MACHINE_ARN, handler_module, rest_event
from test_admin import deployed  # noqa: F401 (the fixture)
from test_admin_client import admin_api  # noqa: F401 (the fixture)

from aiv.cli import main
from aiv.codec.builtin import BUILTIN_CODECS
from aiv.pipeline.importing import IMPORT_PREFIX

MODULE = (
    "import numpy as np\n\ndef encode(y, u, v, fps, quality):\n    return y.tobytes()\n\n"
    "def decode(bitstream):\n    raise NotImplementedError\n"
)


def call(body, lambda_context) -> tuple[int, dict]:
    response = handler_module("admin").handler(rest_event("POST", "/admin/imports", json.dumps(body)), lambda_context)
    return response["statusCode"], json.loads(response["body"])


def test_an_import_enters_the_archive_and_starts_an_execution_that_evaluates_it(
    deployed,
    lab,  # noqa: F811
    lambda_context,
):
    status, answer = call({"name": "mine", "source": MODULE, "candidates": 2}, lambda_context)
    assert status == 202 and answer["created"] is True
    experiment = lab.experiments.get_experiment(answer["experiment_id"])
    assert experiment.proposer == "import" and experiment.status == "proposed" and experiment.parents == []
    assert lab.artifacts.get(experiment.code_key).decode() == MODULE
    assert f"arn:aws:iam::{ACCOUNT}:user/alice" in experiment.hypothesis
    execution = boto3.client("stepfunctions").describe_execution(executionArn=answer["execution_arn"])
    assert json.loads(execution["input"]) == {
        "candidates": 2,
        "seeds": [*BUILTIN_CODECS, IMPORT_PREFIX + experiment.id],
    }
    assert execution["name"] == experiment.run_id  # the experiment belongs to the run that evaluates it
    [event] = lab.experiments.recent_events(limit=1)
    assert event["kind"] == "admin" and event["data"]["experiment_id"] == experiment.id
    status, again = call({"name": "other-name", "source": MODULE}, lambda_context)
    assert status == 202 and again["created"] is False and again["experiment_id"] == experiment.id


def test_a_refused_import_is_a_400_and_stores_nothing(deployed, lab, lambda_context):  # noqa: F811
    for body, message in (
        ({"name": "x", "source": "import os\n"}, "the static policy refuses the module"),
        ({"name": "../x", "source": MODULE}, "name is 1 to 64 letters"),
        ({"source": MODULE}, "an import needs 'name'"),
        ({"name": "x", "source": MODULE, "proposer": "gpt"}, "proposer must be one of"),
    ):
        status, answer = call(body, lambda_context)
        assert status == 400 and message in answer["message"], answer
    assert lab.experiments.list_experiments().items == []
    assert boto3.client("stepfunctions").list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"] == []


def test_aiv_admin_import_through_the_signed_api(admin_api, tmp_path, capsys):  # noqa: F811
    module = tmp_path / "mine.py"
    module.write_text(MODULE)
    assert main(["admin", "import", str(module), "--api", admin_api.url, "--region", REGION]) == 0
    out = capsys.readouterr().out
    assert "the codec entered the archive as exp-import-mine-" in out and "to evaluate it" in out
