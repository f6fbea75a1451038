"""The table design: importable without boto3 (the CDK stack imports it), self-consistent, the
Powertools idempotency defaults, and the same schema when created through the API."""

from __future__ import annotations

import inspect
import subprocess
import sys

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from moto import mock_aws

from aiv.store import table_design
from aiv.store.table_design import (
    GSIS,
    IDEMPOTENCY_KEY,
    IDEMPOTENCY_TTL_ATTRIBUTE,
    INDEXES,
    SCORE_INDEXES,
    TABLE_KEY,
    create_tables,
    experiments_table_request,
    idempotency_table_request,
)


def test_importing_it_loads_no_aws_sdk():
    code = (
        "import sys, aiv.store.table_design; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')); "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_indexes_are_distinct_and_match_gsis():
    names = [index.name for index in INDEXES]
    key_attributes = [*TABLE_KEY, *(a for index in INDEXES for a in (index.partition_key, index.sort_key))]
    assert len(set(names)) == len(names) and len(set(key_attributes)) == len(key_attributes)
    assert GSIS == {index.name: (index.partition_key, index.sort_key) for index in INDEXES}
    assert set(SCORE_INDEXES) == {"train", "validation"} and set(SCORE_INDEXES.values()) <= set(INDEXES)


def test_every_defined_attribute_is_a_key_attribute():
    # CloudFormation refuses attribute definitions that no key schema uses.
    request = experiments_table_request("t")
    defined = {d["AttributeName"] for d in request["AttributeDefinitions"]}
    used = {k["AttributeName"] for k in request["KeySchema"]} | {
        k["AttributeName"] for index in request["GlobalSecondaryIndexes"] for k in index["KeySchema"]
    }
    assert defined == used and len(defined) == len(request["AttributeDefinitions"])
    assert idempotency_table_request("i")["KeySchema"] == [{"AttributeName": IDEMPOTENCY_KEY, "KeyType": "HASH"}]


def test_idempotency_names_are_the_powertools_defaults():
    defaults = inspect.signature(DynamoDBPersistenceLayer.__init__).parameters
    assert defaults["key_attr"].default == IDEMPOTENCY_KEY
    assert defaults["expiry_attr"].default == IDEMPOTENCY_TTL_ATTRIBUTE
    assert defaults["sort_key_attr"].default is None


@pytest.fixture
def dynamodb(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("dynamodb")


def test_create_tables_builds_the_designed_schema(dynamodb):
    create_tables(dynamodb, "experiments", "idempotency")
    table = dynamodb.describe_table(TableName="experiments")["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == list(TABLE_KEY)
    assert table["BillingModeSummary"]["BillingMode"] == table_design.BILLING_MODE
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert {name: tuple(k["AttributeName"] for k in index["KeySchema"]) for name, index in indexes.items()} == GSIS
    assert all(index["Projection"]["ProjectionType"] == "ALL" for index in indexes.values())
    assert {d["AttributeType"] for d in table["AttributeDefinitions"]} == {"S"}

    idempotency = dynamodb.describe_table(TableName="idempotency")["Table"]
    assert idempotency["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    ttl = dynamodb.describe_time_to_live(TableName="idempotency")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}
