"""The storage stack: tables built from aiv/store/table_design.py, the bucket's protections, the secret."""

from __future__ import annotations

from aws_cdk.assertions import Match

from aiv.store import table_design
from stacks.storage import ARTIFACT_PREFIXES_TO_ARCHIVE

from .cdk_app import synthesize


def _tables(synth) -> dict[str, dict]:
    """Experiments and idempotency tables' properties, told apart by their key."""
    tables = {}
    for resource in synth.resources("Storage", "AWS::DynamoDB::Table").values():
        key = resource["Properties"]["KeySchema"][0]["AttributeName"]
        tables["experiments" if key == table_design.PARTITION_KEY else "idempotency"] = resource
    assert set(tables) == {"experiments", "idempotency"}
    return tables


def test_experiments_table_matches_table_design(synth):
    table = _tables(synth)["experiments"]["Properties"]
    assert table["BillingMode"] == table_design.BILLING_MODE
    assert table["KeySchema"] == [
        {"AttributeName": table_design.PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": table_design.SORT_KEY, "KeyType": "RANGE"},
    ]
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == set(table_design.GSIS)
    for name, (partition_key, sort_key) in table_design.GSIS.items():
        assert indexes[name]["KeySchema"] == [
            {"AttributeName": partition_key, "KeyType": "HASH"},
            {"AttributeName": sort_key, "KeyType": "RANGE"},
        ]
        assert indexes[name]["Projection"] == {"ProjectionType": "ALL"}
    declared = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    requested = table_design.experiments_table_request("experiments")["AttributeDefinitions"]
    assert declared == {a["AttributeName"]: a["AttributeType"] for a in requested}


def test_experiments_table_is_recoverable_and_retained(synth):
    table = _tables(synth)["experiments"]
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"


def test_idempotency_table_has_the_powertools_key_and_ttl(synth):
    table = _tables(synth)["idempotency"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": table_design.IDEMPOTENCY_KEY, "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {
        "AttributeName": table_design.IDEMPOTENCY_TTL_ATTRIBUTE,
        "Enabled": True,
    }
    assert table["BillingMode"] == table_design.BILLING_MODE
    assert "GlobalSecondaryIndexes" not in table


def _artifacts(synth) -> tuple[str, dict]:
    buckets = synth.resources("Storage", "AWS::S3::Bucket")
    [(logical_id, bucket)] = [(k, v) for k, v in buckets.items() if "LoggingConfiguration" in v["Properties"]]
    return logical_id, bucket


def test_every_bucket_is_encrypted_private_and_retained(synth):
    buckets = synth.resources("Storage", "AWS::S3::Bucket")
    assert len(buckets) == 2  # artifacts and their access logs
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        ]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        assert bucket["DeletionPolicy"] == "Retain"


def test_every_bucket_refuses_requests_without_tls(synth):
    policies = synth.resources("Storage", "AWS::S3::BucketPolicy")
    protected = {
        policy["Properties"]["Bucket"]["Ref"]
        for policy in policies.values()
        if any(
            s["Effect"] == "Deny"
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            and s["Action"] == "s3:*"
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        )
    }
    assert protected == set(synth.resources("Storage", "AWS::S3::Bucket"))


def test_artifacts_bucket_logs_access_and_moves_old_artifacts_to_infrequent_access(synth):
    logical_id, bucket = _artifacts(synth)
    props = bucket["Properties"]
    assert props["LoggingConfiguration"]["DestinationBucketName"]["Ref"] != logical_id
    assert "VersioningConfiguration" not in props
    rules = {rule["Prefix"]: rule for rule in props["LifecycleConfiguration"]["Rules"] if "Prefix" in rule}
    assert set(rules) == set(ARTIFACT_PREFIXES_TO_ARCHIVE)
    for rule in rules.values():
        assert rule["Status"] == "Enabled"
        assert rule["Transitions"] == [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]
    assert "clips/" not in rules  # clips are read by every evaluation: they stay in STANDARD
    assert any(
        rule.get("AbortIncompleteMultipartUpload") == {"DaysAfterInitiation": 7}
        for rule in props["LifecycleConfiguration"]["Rules"]
    )


def test_api_key_secret_is_created_without_a_value(synth):
    secret = synth.only("Storage", "AWS::SecretsManager::Secret")
    assert "GenerateSecretString" not in secret and "SecretString" not in secret
    assert "put-secret-value" in secret["Description"]


def test_bedrock_deploys_no_secret(variant):
    assert variant.resources("Storage", "AWS::SecretsManager::Secret") == {}
    assert "ApiKeySecretArn" not in variant.template("Storage")["Outputs"]


def test_storage_is_exported_under_stable_names(synth):
    outputs = synth.template("Storage")["Outputs"]
    names = {output["Export"]["Name"] for output in outputs.values()}
    assert names == {
        f"AiV1-Storage-{key}"
        for key in (
            "ExperimentsTableArn",
            "ExperimentsTable",
            "IdempotencyTableArn",
            "IdempotencyTable",
            "ArtifactsBucketArn",
            "ArtifactsBucket",
            "ApiKeySecretArn",
        )
    }
    synth.assertions("Compute").has_resource_properties(
        "AWS::Batch::JobDefinition",
        {
            "ContainerProperties": {
                "Environment": Match.array_with(
                    [{"Name": "AIV_TABLE", "Value": {"Fn::ImportValue": "AiV1-Storage-ExperimentsTable"}}]
                )
            }
        },
    )


TABLE_NAME, BUCKET_NAME = "AiV1-Storage-ExperimentsBA9AEAD2-1A2B3C", "aiv1-storage-artifacts82dd59a1-4d5e6f"


def test_retained_data_is_reattached_by_name_under_the_same_exports(synth, tmp_path):
    again = synthesize(tmp_path, {"existing_experiments_table": TABLE_NAME, "existing_artifacts_bucket": BUCKET_NAME})
    assert again.validation_error is None  # cdk-nag has nothing to say either
    tables = again.resources("Storage", "AWS::DynamoDB::Table").values()
    assert [t["Properties"]["KeySchema"][0]["AttributeName"] for t in tables] == [table_design.IDEMPOTENCY_KEY]
    assert again.resources("Storage", "AWS::S3::Bucket") == {}  # nor the access-logs bucket the old one logs to
    outputs, before = again.template("Storage")["Outputs"], synth.template("Storage")["Outputs"]
    assert {k: v["Export"] for k, v in outputs.items()} == {k: v["Export"] for k, v in before.items()}
    assert outputs["ExperimentsTable"]["Value"] == TABLE_NAME and outputs["ArtifactsBucket"]["Value"] == BUCKET_NAME
    assert outputs["ExperimentsTableArn"]["Value"]["Fn::Join"][1][-1] == f":table/{TABLE_NAME}"
    assert outputs["ArtifactsBucketArn"]["Value"]["Fn::Join"][1][-1] == f":s3:::{BUCKET_NAME}"
