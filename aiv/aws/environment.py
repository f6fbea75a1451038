"""The Lab on AWS, built from the environment variables the stacks set (Lambda and the Batch job).

Variables (the contract between the CDK app and the runtime; names in one place, below):
AIV_TABLE, AIV_IDEMPOTENCY_TABLE, AIV_BUCKET, AIV_CLIPS_PREFIX, AIV_API_KEY_SECRET, AIV_USE_BEDROCK,
AIV_MODEL, AIV_SETTINGS, AIV_SCHEDULE_NAME, AIV_SCHEDULE_GROUP, AIV_STATE_MACHINE_ARN, AIV_PROJECT.
The GPU job also gets AIV_GPU_PRICE_USD_PER_HOUR and AIV_GPU_PRICE_BASIS (read by aiv/aws/prices.py).
A missing or malformed variable is a ConfigError that names it. The Lab and the API key are made
once per process (a Lambda container, the Batch job); `forget()` drops them.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Callable

from aiv.errors import ConfigError
from aiv.names import API_KEY_SECRET, BUCKET, CLIPS_PREFIX, DEFAULT_CLIPS_PREFIX, MODEL, SETTINGS, TABLE, USE_BEDROCK

# the rest of the environment's names, which tests/aws reads as `environment.<NAME>`; their home is aiv/names.py
from aiv.names import IDEMPOTENCY_TABLE, PROJECT, SCHEDULE_GROUP, SCHEDULE_NAME, STATE_MACHINE_ARN  # noqa: F401
from aiv.pipeline.lab import Lab
from aiv.search.factory import offline_proposer, proposers_by_name
from aiv.search.proposer import Proposer
from aiv.settings import CampaignSettings

API_KEY_PREFIX = "sk-ant-"


def require_env(name: str) -> str:
    """The value of environment variable `name`; ConfigError when it is unset or empty."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is not set; the AiV1 stacks set it on every function and job")
    return value


def clips_prefix() -> str:
    """Where clips live in the bucket (AIV_CLIPS_PREFIX, default 'clips/'), always ending in '/'."""
    prefix = os.environ.get(CLIPS_PREFIX, "").strip() or DEFAULT_CLIPS_PREFIX
    return prefix.rstrip("/") + "/"


def settings_from_env() -> CampaignSettings:
    """The campaign settings: AIV_SETTINGS (JSON of CampaignSettings fields) over the lab's defaults."""
    text = os.environ.get(SETTINGS, "").strip()
    if not text:
        return CampaignSettings()
    try:
        fields = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{SETTINGS} is not valid JSON: {exc}") from None
    if not isinstance(fields, dict):
        raise ConfigError(f"{SETTINGS} must be a JSON object of campaign settings, got {type(fields).__name__}")
    known = {f.name for f in dataclasses.fields(CampaignSettings)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ConfigError(f"{SETTINGS} has unknown fields {unknown}; known: {sorted(known)}")
    return CampaignSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


def corpus_settings(corpus: str) -> CampaignSettings:
    """The campaign settings with the clip lists of the set `corpus` uploaded to the bucket (aiv/aws/clips.py).

    Read with this process's role on every call, so a set uploaded again is seen at once; ClipError
    naming the set when it is not in the bucket.
    """
    import boto3

    from aiv.aws.clips import read_set

    lists = read_set(boto3.client("s3"), require_env(BUCKET), corpus, clips_prefix())
    return dataclasses.replace(settings_from_env(), **{field: tuple(clips) for field, clips in lists.items()})


def use_bedrock() -> bool:
    """Whether Claude is called through Amazon Bedrock (AIV_USE_BEDROCK "1") or the Anthropic API ("0"/unset)."""
    value = os.environ.get(USE_BEDROCK, "0").strip() or "0"
    if value not in ("0", "1"):
        raise ConfigError(f"{USE_BEDROCK} must be '1' or '0', got {value!r}")
    return value == "1"


@functools.cache
def anthropic_api_key(secret_id: str) -> str:
    """The Anthropic API key held by the Secrets Manager secret `secret_id` (read once per process)."""
    import boto3

    client = boto3.client("secretsmanager")
    how = (
        f"set it with: aws secretsmanager put-secret-value --secret-id {secret_id} "
        f"--secret-string <your Anthropic API key>"
    )
    try:
        value = client.get_secret_value(SecretId=secret_id).get("SecretString") or ""
    except client.exceptions.ResourceNotFoundException:
        raise ConfigError(f"the Secrets Manager secret {secret_id!r} has no value (or does not exist); {how}") from None
    value = value.strip()
    if not value:
        raise ConfigError(f"the Secrets Manager secret {secret_id!r} is empty; {how}")
    if not value.startswith(API_KEY_PREFIX):
        raise ConfigError(
            f"the Secrets Manager secret {secret_id!r} does not hold an Anthropic API key (those start "
            f"with {API_KEY_PREFIX!r}); {how}"
        )
    return value


def claude_proposer() -> Proposer:
    """The Claude proposer: through Bedrock when AIV_USE_BEDROCK is 1, else with the key from AIV_API_KEY_SECRET.

    Its SDK client has the timeout, retries and retry-after cap of aiv/aws/claude_limits.py, so
    one proposal always ends inside the propose Lambda's timeout.
    """
    from aiv.aws.claude_limits import CLAUDE_MAX_RETRIES, CLAUDE_REQUEST_TIMEOUT_S, cap_retry_after
    from aiv.search.claude import DEFAULT_MODEL, ClaudeProposer
    from aiv.search.claude_client import claude_client

    model = os.environ.get(MODEL, "").strip() or DEFAULT_MODEL
    bedrock, timeout_s = use_bedrock(), float(CLAUDE_REQUEST_TIMEOUT_S)
    client = claude_client(
        bedrock=bedrock,
        timeout_s=timeout_s,
        max_retries=CLAUDE_MAX_RETRIES,
        on_response=cap_retry_after,
        api_key=None if bedrock else anthropic_api_key(require_env(API_KEY_SECRET)),
    )
    return ClaudeProposer(
        model=model, bedrock=bedrock, client=client, timeout_s=timeout_s, max_retries=CLAUDE_MAX_RETRIES
    )


def proposer_factory() -> Callable[[str], Proposer]:
    """Proposers by name ("offline", "claude"), each made on first use (imported lazily), once."""
    return proposers_by_name({"offline": offline_proposer, "claude": claude_proposer})


@functools.cache
def experiment_store():
    """The DynamoExperimentStore on AIV_TABLE, made once per process."""
    from aiv.store.dynamodb import DynamoExperimentStore

    return DynamoExperimentStore(require_env(TABLE))


@functools.cache
def artifact_store():
    """The S3ArtifactStore on AIV_BUCKET, made once per process."""
    from aiv.store.s3 import S3ArtifactStore

    return S3ArtifactStore(require_env(BUCKET))


@functools.cache
def lab_from_env() -> Lab:
    """The Lab over the DynamoDB table AIV_TABLE and the bucket AIV_BUCKET, made once per process.

    A Lambda cannot load clips, so its benchmark is the store's current one (aiv/benchmark.py); the GPU
    job, which loads them, computes it (gpu_runner/entry.py) and its result records it."""
    return Lab(experiment_store(), artifact_store(), settings_from_env(), proposer_factory(), benchmark_from_store=True)


def lab_for_corpus(corpus: str) -> Lab:
    """lab_from_env(), training and validating on the uploaded set `corpus`; "" (no set named): AIV_SETTINGS' clips."""
    lab = lab_from_env()
    return dataclasses.replace(lab, settings=corpus_settings(corpus)) if corpus else lab


def forget() -> None:
    """Drop everything made once per process (the stores, the Lab, the API key): for tests."""
    for cached in (experiment_store, artifact_store, lab_from_env, anthropic_api_key):
        cached.cache_clear()
