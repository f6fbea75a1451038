"""Lambda: the admin API (IAM auth at API Gateway; `aiv admin ...` signs its calls).

    POST /admin/pause                       -> 200 {"enabled": false, "expression", "next_run_at", "updated_at"}
    POST /admin/resume                      -> 200 {"enabled": true, ...}
    POST /admin/runs {"candidates"?, "proposer"?}   -> 202 {"execution_arn", "started_at", "input"}
    POST /admin/experiments/<id>/rerun      -> 202 {"execution_arn", "started_at", "input"}
    POST /admin/imports {"name", "source", "candidates"?, "proposer"?}
                                            -> 202 {"experiment_id", "created", "execution_arn", "started_at", "input"}

An import passes the static policy (400 with the violation otherwise), enters the archive as a seed
(aiv/pipeline/importing.py) and starts an execution whose seeds include it, so it is evaluated like a
built-in seed before that run's candidates; the same module twice is one experiment.

A bad request is 400 and an unknown experiment 404, each {"message": ...}. Every action is
recorded as a campaign event with the caller's IAM ARN. Logic: aiv/aws/control.py.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import boto3
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths

from aiv.aws import control
from aiv.aws.environment import experiment_store, lab_from_env, require_env
from aiv.codec.builtin import BUILTIN_CODECS
from aiv.codec.policy import PolicyViolation
from aiv.pipeline.importing import IMPORT_PREFIX, import_codec
from aiv.aws.observability import count, logger, metrics, tracer
from aiv.errors import UsageError
from aiv.names import SCHEDULE_GROUP, SCHEDULE_NAME, STATE_MACHINE_ARN

app = APIGatewayRestResolver()


@functools.cache
def client(service: str):
    """A boto3 client, made once per container."""
    return boto3.client(service)


def _caller() -> str | None:
    return app.current_event.request_context.identity.user_arn


def _body() -> dict:
    # The API declares "*/*" binary (stacks/dashboard.py), so API Gateway passes request bodies base64-encoded.
    text = app.current_event.decoded_body
    if not text:
        return {}
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise UsageError("the request body must be a JSON object")
    return body


def _set_schedule(enabled: bool) -> dict:
    experiments = experiment_store()
    document = control.set_schedule_enabled(
        client("scheduler"), experiments, require_env(SCHEDULE_NAME), require_env(SCHEDULE_GROUP), enabled
    )
    control.audit(experiments, "resume" if enabled else "pause", _caller(), {"schedule": document})
    count("AdminActions")
    return document


def _start(execution_input: dict, label: str, name: str | None = None, extra: dict | None = None) -> Response:
    started = control.start_execution(
        client("stepfunctions"), require_env(STATE_MACHINE_ARN), execution_input, label, name
    )
    control.audit(experiment_store(), label, _caller(), {**(extra or {}), **started})
    count("AdminActions")
    return Response(
        status_code=202, content_type=content_types.APPLICATION_JSON, body=json.dumps({**(extra or {}), **started})
    )


@app.post("/admin/pause")
def pause() -> dict:
    return _set_schedule(False)


@app.post("/admin/resume")
def resume() -> dict:
    return _set_schedule(True)


@app.post("/admin/runs")
def start_run() -> Response:
    return _start(control.run_input(_body()), "run")


@app.post("/admin/experiments/<experiment_id>/rerun")
def rerun(experiment_id: str) -> Response:
    return _start(control.rerun_input(experiment_store(), experiment_id), "rerun")


@app.post("/admin/imports")
def import_module() -> Response:
    name, source, run = control.import_request(_body())
    run_id = control.execution_name("import")
    try:
        entered = import_codec(
            {
                "run_id": run_id,
                "name": name,
                "source": source,
                "origin": f"the admin API, by {_caller() or 'an unknown caller'}",
            },
            lab_from_env(),
        )
    except PolicyViolation as violation:
        raise UsageError(f"the static policy refuses the module: {violation}") from None
    seeds = [*BUILTIN_CODECS, IMPORT_PREFIX + entered["experiment_id"]]
    return _start(
        run | {"seeds": seeds},
        "import",
        run_id,
        {"experiment_id": entered["experiment_id"], "created": entered["created"]},
    )


@app.exception_handler(UsageError)
def bad_request(error: UsageError) -> Response:
    return Response(
        status_code=400, content_type=content_types.APPLICATION_JSON, body=json.dumps({"message": str(error)})
    )


@app.exception_handler(control.NotFound)
def not_found(error: control.NotFound) -> Response:
    return Response(
        status_code=404, content_type=content_types.APPLICATION_JSON, body=json.dumps({"message": str(error)})
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: Any) -> dict:
    return app.resolve(event, context)
