"""Fixtures for the AWS runtime: moto for every AWS call, the stacks' environment variables, the
tables (aiv.store.table_design.create_tables) and the bucket, a Lambda context, an archived parent."""

from __future__ import annotations

import boto3
import pytest
from awslab import BUCKET, IDEMPOTENCY_TABLE, REGION, TABLE, LambdaContext, apply_stack_env, write_tiny_clips
from moto import mock_aws

from aiv.aws import environment
from aiv.pipeline.seeding import seed
from aiv.store.records import Experiment
from aiv.store.table_design import create_tables


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def aws_env(monkeypatch):
    """The stacks' environment with fake credentials, and moto answering every AWS call (nothing real is reached)."""
    apply_stack_env(monkeypatch)
    with mock_aws():
        yield
    environment.forget()


@pytest.fixture
def aws(aws_env):
    """aws_env plus the experiments and idempotency tables and the artifacts bucket."""
    create_tables(boto3.client("dynamodb"), TABLE, IDEMPOTENCY_TABLE)
    boto3.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})


@pytest.fixture(scope="session")
def tiny_clip_files(tmp_path_factory) -> dict:
    """{file name: path} of the TINY_CLIPS the campaign settings name."""
    return write_tiny_clips(tmp_path_factory.mktemp("tiny-clips"))


@pytest.fixture
def clips_in_bucket(aws, tiny_clip_files) -> dict:
    """The TINY_CLIPS uploaded under clips/, where the Batch job looks for them."""
    s3 = boto3.client("s3")
    for name, path in tiny_clip_files.items():
        s3.upload_file(str(path), BUCKET, f"clips/{name}")
    return tiny_clip_files


@pytest.fixture
def lab(aws):
    """The Lab the handlers use (aiv.aws.environment.lab_from_env) on the moto table and bucket."""
    return environment.lab_from_env()


@pytest.fixture
def archived_parent(lab) -> Experiment:
    """The built-in hybrid codec in the archive as a succeeded experiment, so parent selection has one.

    Its score is fixture data for parent selection, not a measurement (tests/aws/test_state_machine_e2e.py
    evaluates the seeds for real)."""
    out = seed({"run_id": "run-fixture", "name": "hybrid"}, lab)
    return lab.experiments.update_experiment(
        out["experiment_id"], {"status": "succeeded", "score": 0.0, "score_validation": 0.0, "stage": "record"}
    )
