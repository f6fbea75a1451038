"""Constants and helpers of the AWS runtime tests: the stacks' environment, a Lambda context, step events."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path

from aiv.aws import environment

REGION = "eu-west-1"
ACCOUNT = "123456789012"
TABLE = "aiv-test-experiments"
IDEMPOTENCY_TABLE = "aiv-test-idempotency"
BUCKET = "aiv-test-artifacts"
SECRET = "aiv-test/anthropic-api-key"
SCHEDULE, SCHEDULE_GROUP = "aiv-test-campaign", "aiv-test"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:aiv-test-pipeline"
PROJECT = "AiV1-test"
# Small enough that one evaluation takes seconds: two 64x48 clips of 8 frames in the bucket, x264 only, no VMAF.
TINY_CLIPS = {"tiny_pan.y4m": "pan_zoom", "tiny_noise.y4m": "noisy_static"}  # file name: the built-in clip cropped
TINY_SETTINGS = {
    "frames": 8,
    "train_clips": ["tiny_pan.y4m"],
    "validation_clips": ["tiny_noise.y4m"],
    "anchors": ["x264"],
    "vmaf": False,
    "timeout_s": 120.0,
}
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    environment.TABLE: TABLE,
    environment.IDEMPOTENCY_TABLE: IDEMPOTENCY_TABLE,
    environment.BUCKET: BUCKET,
    environment.CLIPS_PREFIX: "clips/",
    environment.API_KEY_SECRET: SECRET,
    environment.USE_BEDROCK: "0",
    environment.SETTINGS: json.dumps(TINY_SETTINGS),
    environment.SCHEDULE_NAME: SCHEDULE,
    environment.SCHEDULE_GROUP: SCHEDULE_GROUP,
    environment.STATE_MACHINE_ARN: STATE_MACHINE_ARN,
    environment.PROJECT: PROJECT,
    "POWERTOOLS_SERVICE_NAME": "aiv-test",
    "POWERTOOLS_METRICS_NAMESPACE": "AiV1",
}
UNSET = (
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_S3",
    "ANTHROPIC_API_KEY",
    "AWS_LAMBDA_FUNCTION_NAME",
    "LAMBDA_TASK_ROOT",
    "POWERTOOLS_IDEMPOTENCY_DISABLED",
)


def apply_stack_env(patch) -> None:
    """Set the stacks' environment on a pytest MonkeyPatch (and unset what could reach real AWS)."""
    for name in UNSET:
        patch.delenv(name, raising=False)
    for name, value in ENV.items():
        patch.setenv(name, value)
    environment.forget()


@dataclass
class LambdaContext:
    """What Powertools reads from a Lambda context."""

    function_name: str = "aiv-test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:aiv-test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


def handler_module(name: str):
    """functions.<name>, imported with the stacks' environment in place (its idempotency layer reads it)."""
    return importlib.import_module(f"functions.{name}")


def step_event(
    step: str,
    step_input: dict,
    attempt: int = 1,
    item: int = 0,
    execution: str = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:aiv-test-pipeline:run-1",
) -> dict:
    """The payload the state machine sends a step Lambda."""
    return {"execution": execution, "step": step, "attempt": attempt, "item": item, "input": step_input}


def metric_names(stdout: str) -> list[str]:
    """The names of the CloudWatch metrics a handler emitted (EMF lines on stdout)."""
    names = []
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            record = json.loads(line)
            names += [m["Name"] for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
    return names


def rest_event(
    method: str,
    path: str,
    body: str | None = None,
    headers: dict | None = None,
    query: dict | None = None,
    user_arn: str | None = f"arn:aws:iam::{ACCOUNT}:user/alice",
) -> dict:
    """An API Gateway REST proxy event (stage "prod") as the dashboard and admin Lambdas receive it."""
    headers = {"Host": "abc123.execute-api.eu-west-1.amazonaws.com", **(headers or {})}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/prod{path}",
            "stage": "prod",
            "requestId": "req-1",
            "accountId": ACCOUNT,
            "apiId": "abc123",
            "identity": {"userArn": user_arn, "sourceIp": "192.0.2.1"},
        },
    }


def write_tiny_clips(folder: Path) -> dict[str, Path]:
    """The TINY_CLIPS as y4m files in `folder`: the top-left 64x48 of 8 frames of each built-in clip."""
    from clip_helpers import TEST_SECRET

    from aiv.video.clip import Clip
    from aiv.video.corpus import builtin_clip
    from aiv.video.y4m import write_y4m

    paths = {}
    for name, source in TINY_CLIPS.items():
        clip = builtin_clip(source, frames=8, secret=TEST_SECRET)
        tiny = Clip(
            Path(name).stem,
            clip.y[:, :48, :64].copy(),
            clip.u[:, :24, :32].copy(),
            clip.v[:, :24, :32].copy(),
            clip.fps,
            f"builtin:{source} cropped",
        )
        paths[name] = folder / name
        write_y4m(paths[name], tiny)
    return paths


def add_candidate(experiments, artifacts, code: str, status: str = "proposed") -> str:
    """An experiment whose module is `code`, in `status` (proposed, validating or evaluating); its id."""
    from aiv.codec.contract import CodecSource
    from aiv.names import code_key
    from aiv.benchmark import PENDING
    from aiv.store.records import new_experiment

    sha = CodecSource("candidate", code, "test").sha256
    artifacts.put(code_key(sha), code.encode(), "text/x-python")
    record = new_experiment("run-test", "offline", [], "a test candidate", sha, benchmark=PENDING)
    experiments.create_experiment(record)
    if status != "proposed":
        stage = {"validating": "validate", "evaluating": "evaluate"}[status]
        experiments.update_experiment(record.id, {"status": status, "stage": stage})
    return record.id
