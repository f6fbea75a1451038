"""The AWS ArtifactStore: one object per key in an S3 bucket, under an optional prefix.

Encryption is the bucket's default (set by the storage stack), so no SSE headers are sent.
A missing key is told apart from a forbidden one only when the caller may list the bucket
(s3:ListBucket); without it S3 answers 403 for a missing key, which is raised, not hidden.
"""

from __future__ import annotations

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from aiv.store.ports import check_artifact_key

MAX_URL_EXPIRY_S = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live


class S3ArtifactStore:
    """ArtifactStore on `bucket`; key 'code/<sha>.py' is the object `prefix`/code/<sha>.py.

    `client` is a boto3 S3 client (default: SigV4 and virtual-hosted addressing for the
    environment's region, which presigned URLs need to work in every region).
    """

    def __init__(self, bucket: str, prefix: str = "", client=None):
        if not isinstance(bucket, str) or not bucket:
            raise ValueError(f"S3 bucket must be a non-empty name, got {bucket!r}")
        self.bucket = bucket
        self.prefix = check_artifact_key(prefix.strip("/")) + "/" if prefix.strip("/") else ""
        self.client = client or boto3.client(
            "s3",
            config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}, retries={"mode": "standard"}),
        )

    def object_key(self, key: str) -> str:
        """The S3 object key that holds (or would hold) `key`; ValueError for an invalid key."""
        return self.prefix + check_artifact_key(key)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Store `data` under `key` with its content type (S3 replaces an object atomically)."""
        self.client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        """The bytes under `key`; KeyError when absent."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except self.client.exceptions.NoSuchKey:
            raise KeyError(key) from None
        return response["Body"].read()

    def exists(self, key: str) -> bool:
        """Whether `key` holds data."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def url(self, key: str, expires_s: int = 3600) -> str:
        """A presigned GET URL for `key`, valid for `expires_s` seconds (1 s to 7 days)."""
        object_key = self.object_key(key)
        if isinstance(expires_s, bool) or not isinstance(expires_s, int) or not 1 <= expires_s <= MAX_URL_EXPIRY_S:
            raise ValueError(
                f"expires_s must be a whole number of seconds from 1 to {MAX_URL_EXPIRY_S}, got {expires_s!r}"
            )
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": object_key}, ExpiresIn=expires_s
        )
