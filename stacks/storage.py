"""The storage stack: the experiments and idempotency tables, the artifacts bucket, the API key secret.

The tables' keys and indexes come from aiv/store/table_design.py, the same constants the DynamoDB
adapter writes by, so the code and the infrastructure cannot disagree. Data outlives the stack:
the experiments table and the buckets are retained on `cdk destroy` (docs/deploy.md says how
to delete them for good); the idempotency table holds only short-lived records and is not.
A new deploy after a teardown creates new ones beside them; the settings `existing_experiments_table`
and `existing_artifacts_bucket` reattach retained ones instead, by name: the stack then creates
neither (nor the access-logs bucket, which the retained artifacts bucket still logs to) and exports
the existing ones under the same names, so every other stack uses them as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from aws_cdk import CfnOutput, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from aiv.names import (
    API_KEY_SECRET,
    BUCKET,
    CLIPS_PREFIX,
    DEFAULT_CLIPS_PREFIX,
    IDEMPOTENCY_TABLE,
    MODEL,
    PROJECT,
    SETTINGS,
    TABLE,
    USE_BEDROCK,
)
from aiv.store import table_design
from stacks import acknowledge
from stacks.settings import Settings

ARTIFACT_PREFIXES_TO_ARCHIVE = ("previews/", "results/")  # read rarely once an experiment is a few weeks old
INFREQUENT_ACCESS_AFTER = Duration.days(30)  # S3's minimum age for STANDARD_IA
ACCESS_LOG_EXPIRY = Duration.days(90)
_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}


def _attribute(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=_ATTRIBUTE_TYPES[table_design.KEY_TYPE])


class StorageStack(Stack):
    """Tables, bucket and secret (the table and bucket made here or reattached by name), exported under fixed
    names; other stacks use them through `refs`."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.table = (
            self._experiments_table()
            if settings.existing_experiments_table is None
            else dynamodb.Table.from_table_name(self, "ExistingExperiments", settings.existing_experiments_table)
        )
        self.idempotency_table = self._idempotency_table()
        self.bucket = (
            self._artifacts_bucket()
            if settings.existing_artifacts_bucket is None
            else s3.Bucket.from_bucket_name(self, "ExistingArtifacts", settings.existing_artifacts_bucket)
        )
        self.api_key = None if settings.use_bedrock else self._api_key_secret()
        self.exports = {
            key: self._export(key, value)
            for key, value in (
                ("ExperimentsTableArn", self.table.table_arn),
                ("ExperimentsTable", self.table.table_name),
                ("IdempotencyTableArn", self.idempotency_table.table_arn),
                ("IdempotencyTable", self.idempotency_table.table_name),
                ("ArtifactsBucketArn", self.bucket.bucket_arn),
                ("ArtifactsBucket", self.bucket.bucket_name),
                *((("ApiKeySecretArn", self.api_key.secret_arn),) if self.api_key else ()),
            )
        }

    def _export(self, key: str, value: str) -> str:
        name = f"{self.stack_name}-{key}"
        CfnOutput(self, key, value=value, export_name=name)
        return name

    def refs(self, consumer: Stack) -> "StorageRefs":
        """This stack's resources as seen from `consumer`, through the named exports (once per consumer).

        Named exports rather than CDK's automatic ones: their names are stable, so the cdk-nag
        findings that quote them can be acknowledged exactly; and they are always exported, so a
        consumer that stops using one never leaves this stack trying to drop an export still
        imported (which CloudFormation refuses).
        """
        consumer.add_stack_dependency(self)
        imported = {key: Fn.import_value(name) for key, name in self.exports.items()}
        api_key = None
        if "ApiKeySecretArn" in imported:
            api_key = secretsmanager.Secret.from_secret_complete_arn(
                consumer, "ImportedApiKey", imported["ApiKeySecretArn"]
            )
        return StorageRefs(
            table=dynamodb.Table.from_table_attributes(
                consumer,
                "ImportedExperiments",
                table_arn=imported["ExperimentsTableArn"],
                global_indexes=[i.name for i in table_design.INDEXES],
            ),
            table_name=imported["ExperimentsTable"],
            idempotency_table=dynamodb.Table.from_table_attributes(
                consumer, "ImportedIdempotency", table_arn=imported["IdempotencyTableArn"]
            ),
            idempotency_table_name=imported["IdempotencyTable"],
            bucket_arn=imported["ArtifactsBucketArn"],
            bucket_name=imported["ArtifactsBucket"],
            api_key=api_key,
            exports=self.exports,
        )

    def _experiments_table(self) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            "Experiments",
            partition_key=_attribute(table_design.PARTITION_KEY),
            sort_key=_attribute(table_design.SORT_KEY),
            billing_mode=dynamodb.BillingMode[table_design.BILLING_MODE],
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        for index in table_design.INDEXES:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_attribute(index.partition_key),
                sort_key=_attribute(index.sort_key),
                projection_type=dynamodb.ProjectionType[index.projection],
            )
        return table

    def _idempotency_table(self) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            "Idempotency",
            partition_key=_attribute(table_design.IDEMPOTENCY_KEY),
            billing_mode=dynamodb.BillingMode[table_design.BILLING_MODE],
            time_to_live_attribute=table_design.IDEMPOTENCY_TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _artifacts_bucket(self) -> s3.Bucket:
        access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=ACCESS_LOG_EXPIRY)],
        )
        archive = [
            s3.LifecycleRule(
                id=f"{prefix.rstrip('/')}-to-infrequent-access",
                prefix=prefix,
                transitions=[
                    s3.Transition(
                        storage_class=s3.StorageClass.INFREQUENT_ACCESS, transition_after=INFREQUENT_ACCESS_AFTER
                    )
                ],
            )
            for prefix in ARTIFACT_PREFIXES_TO_ARCHIVE
        ]
        return s3.Bucket(
            self,
            "Artifacts",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=False,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="artifacts/",
            removal_policy=RemovalPolicy.RETAIN,
            auto_delete_objects=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(7)
                ),
                *archive,
            ],
        )

    def _api_key_secret(self) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            "AnthropicApiKey",
            removal_policy=RemovalPolicy.DESTROY,
            description="The Anthropic API key AiV1's propose step uses. Created empty: set it with "
            "aws secretsmanager put-secret-value --secret-id <this secret> --secret-string sk-ant-...",
        )
        # No GenerateSecretString: CloudFormation then creates the secret without a value (a generated
        # password would only look like a key and fail at the first proposal).
        secret.node.default_child.add_property_deletion_override("GenerateSecretString")
        acknowledge(
            secret,
            {
                "AwsSolutions-SMG4": "An Anthropic API key is issued in the Anthropic console; Secrets Manager cannot "
                "rotate it with a Lambda. The user rotates it there and puts the new value here."
            },
        )
        return secret


@dataclass(frozen=True)
class StorageRefs:
    """The storage a consumer stack works with: grants, environment values, cdk-nag finding ids."""

    table: dynamodb.ITable
    table_name: str
    idempotency_table: dynamodb.ITable
    idempotency_table_name: str
    bucket_arn: str
    bucket_name: str
    api_key: secretsmanager.ISecret | None
    exports: Mapping[str, str]
    clips_prefix: str = DEFAULT_CLIPS_PREFIX

    def grant_objects(self, role: iam.IRole, write: bool = False) -> None:
        """Read (GetObject; ListBucket, so a missing key is a 404) and, with `write`, PutObject on the bucket."""
        role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.bucket_arn]))
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", *(("s3:PutObject",) if write else ())], resources=[f"{self.bucket_arn}/*"]
            )
        )

    def findings(self, reader: str, *, objects: bool = False, indexes: bool = False) -> dict[str, str]:
        """cdk-nag acknowledgments for the wildcards these grants need, said of `reader` (e.g. "the GPU job")."""
        found = {}
        if objects:
            found[f"AwsSolutions-IAM5[Resource::{self.exports['ArtifactsBucketArn']}/*]"] = (
                f"{reader} gets (and, where granted, puts) artifacts whose keys are made at run time "
                f"(code/<sha>.py, results/<id>.json, previews/...), in this one bucket only."
            )
        if indexes:
            found[f"AwsSolutions-IAM5[Resource::{self.exports['ExperimentsTableArn']}/index/*]"] = (
                f"{reader} works through the lab's DynamoDB store, which reads by the experiments table's "
                f"GSIs (aiv/store/table_design.py); DynamoDB authorizes a query as <table ARN>/index/<name>, "
                f"and this grants the indexes of that one table only."
            )
        return found


def lab_environment(settings: Settings, storage: StorageRefs) -> dict[str, str]:
    """The environment every Lambda over the lab gets (aiv/aws/environment.py reads it)."""
    environment = {
        TABLE: storage.table_name,
        IDEMPOTENCY_TABLE: storage.idempotency_table_name,
        BUCKET: storage.bucket_name,
        CLIPS_PREFIX: storage.clips_prefix,
        USE_BEDROCK: "1" if settings.use_bedrock else "0",
        SETTINGS: settings.campaign_json,
        PROJECT: settings.project,
    }
    if storage.api_key is not None:
        environment[API_KEY_SECRET] = storage.api_key.secret_arn
    if settings.model is not None:
        environment[MODEL] = settings.model
    return environment
