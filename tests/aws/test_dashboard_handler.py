"""The dashboard Lambda: REST proxy events in, aiv.web pages out, artifact links presigned on the moto bucket."""

from __future__ import annotations

import base64
import gzip
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from awslab import BUCKET, handler_module, rest_event
from web_seed import Builder, SeededStore


@pytest.fixture
def dashboard(lab):
    """The dashboard handler over a moto store holding one succeeded experiment with real previews."""
    module = handler_module("dashboard")
    module.dashboard.cache_clear()  # a new moto world: drop the container's Dashboard
    store = SeededStore(Path("unused"), lab.experiments, lab.artifacts)
    builder = Builder(store, datetime(2026, 11, 1, tzinfo=timezone.utc), "run-web")
    parent = builder.propose("parent", "builtin", [], "the built-in hybrid codec", "def encode(): pass\n")
    builder.succeed(parent, rate_factor=1.1, previews=True)
    yield module, store.ids["parent"]
    module.dashboard.cache_clear()


def get(module, lambda_context, path: str, method: str = "GET", **options) -> dict:
    return module.handler(rest_event(method, path, **options), lambda_context)


def header(response: dict, name: str) -> str:
    """One response header (a REST proxy response carries them as multiValueHeaders)."""
    [value] = response["multiValueHeaders"][name]
    return value


def test_the_overview_is_html_text(dashboard, lambda_context):
    module, experiment_id = dashboard
    response = get(module, lambda_context, "/")
    assert response["statusCode"] == 200 and response["isBase64Encoded"] is False
    assert header(response, "Content-Type").startswith("text/html")
    assert header(response, "Cache-Control") == "public, max-age=15"
    assert "<html" in response["body"] and experiment_id in response["body"]


def test_a_gzip_viewer_gets_a_gzipped_base64_body_for_api_gateway_to_decode(dashboard, lambda_context):
    module, _ = dashboard  # CloudFront asks the origin with Accept-Encoding: gzip
    response = get(module, lambda_context, "/", headers={"Accept-Encoding": "gzip"})
    assert response["statusCode"] == 200 and response["isBase64Encoded"] is True
    assert header(response, "Content-Encoding") == "gzip"
    assert "<html" in gzip.decompress(base64.b64decode(response["body"])).decode()


def test_artifact_links_are_presigned_at_render_time(dashboard, lambda_context):
    module, experiment_id = dashboard
    response = get(module, lambda_context, f"/experiments/{experiment_id}")
    assert response["statusCode"] == 200
    urls = [part.split('"')[0] for part in response["body"].split('src="')[1:] if ".mp4" in part.split('"')[0]]
    assert urls, "the experiment page shows its previews"
    for url in (u.replace("&amp;", "&") for u in urls):
        parts = urlsplit(url)
        assert parts.scheme == "https" and BUCKET in parts.netloc and parts.path.endswith(".mp4")
        query = parse_qs(parts.query)
        assert "X-Amz-Signature" in query and query["X-Amz-Expires"] == ["3600"]


def test_query_strings_reach_the_dashboard(dashboard, lambda_context):
    module, _ = dashboard
    response = get(module, lambda_context, "/experiments", query={"status": "no-such-status"})
    assert response["statusCode"] == 400


def test_static_files_and_downloads_are_text(dashboard, lambda_context):
    module, experiment_id = dashboard
    css = get(module, lambda_context, "/static/style.css")
    assert css["statusCode"] == 200 and css["isBase64Encoded"] is False and "{" in css["body"]
    code = get(module, lambda_context, f"/experiments/{experiment_id}/codec.py")
    assert code["statusCode"] == 200 and code["body"] == "def encode(): pass\n"
    assert header(code, "Content-Disposition") == f'attachment; filename="{experiment_id}.py"'


def test_head_has_no_body_and_writes_are_refused(dashboard, lambda_context):
    module, _ = dashboard
    head = get(module, lambda_context, "/", method="HEAD")
    assert head["statusCode"] == 200 and head["body"] == ""
    post = get(module, lambda_context, "/", method="POST", body="x=1")
    assert post["statusCode"] == 405 and header(post, "Allow") == "GET, HEAD"


def test_an_unknown_page_is_404(dashboard, lambda_context):
    module, _ = dashboard
    assert get(module, lambda_context, "/nowhere")["statusCode"] == 404
