"""Lambda: the public dashboard (aiv.web) behind a regional REST API and CloudFront. Read-only.

One catch-all route of a Powertools APIGatewayRestResolver turns the REST proxy event into an
`aiv.web.app.Request` and the dashboard's `Response` into the proxy response: text bodies as
text, anything else base64-encoded, gzip when the client accepts it (the API must declare the
binary media type "*/*" so API Gateway decodes base64 bodies). Videos and other artifacts are never
sent through here: the pages link presigned S3 URLs (S3ArtifactStore.url), made at render time.
"""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from aiv.aws.environment import artifact_store, experiment_store
from aiv.aws.observability import logger, tracer
from aiv.web.app import Dashboard, Request

TEXT_TYPES = ("text/", "application/json", "application/javascript", "image/svg+xml")
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]  # the dashboard answers 405 to writes

app = APIGatewayRestResolver()
copy_config_to_registered_loggers(source_logger=logger, include={"aiv.web"})


@functools.cache
def dashboard() -> Dashboard:
    """The dashboard over the table and the bucket, made once per container."""
    return Dashboard(experiment_store(), artifact_store())


def to_request(event) -> Request:
    """The dashboard's Request from Powertools' view of a REST proxy event (one value per query key)."""
    return Request(
        method=event.http_method,
        path=event.path,
        query=dict(event.query_string_parameters or {}),
        headers=dict(event.headers or {}),
    )


def to_response(answer, method: str) -> Response:
    """The proxy response: text types as str, other bodies as bytes (Powertools base64-encodes them)."""
    headers = dict(answer.headers)
    content_type = headers.pop("Content-Type", None)
    body: str | bytes = b"" if method == "HEAD" else answer.body
    if content_type and content_type.startswith(TEXT_TYPES) and isinstance(body, bytes):
        body = body.decode("utf-8")
    return Response(status_code=answer.status, content_type=content_type, body=body, headers=headers)


@app.route(".+", method=METHODS, compress=True)
def serve() -> Response:
    event = app.current_event
    return to_response(dashboard().handle(to_request(event)), event.http_method.upper())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict, context: Any) -> dict:
    return app.resolve(event, context)
