"""`aiv admin ...` and AdminClient: SigV4-signed requests, checked by an independent verifier standing in for
API Gateway's IAM auth, then answered by the admin Lambda itself (on moto)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlsplit

import boto3
import pytest
from awslab import REGION, SCHEDULE, SCHEDULE_GROUP, LambdaContext, handler_module, rest_event
from test_admin import deployed  # noqa: F401 (the fixture)

from aiv.aws.admin_client import AdminApiError, AdminClient
from aiv.cli import main
from aiv.errors import ConfigError


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4_valid(method: str, path: str, headers: dict, body: bytes, secret_key: str) -> bool:
    """Whether `headers["authorization"]` is a valid AWS4-HMAC-SHA256 signature of the request (the SigV4 spec,
    written out here independently of botocore)."""
    scheme, _, fields = headers["authorization"].partition(" ")
    parts = dict(item.strip().split("=", 1) for item in fields.split(","))
    credential, signed = parts["Credential"].split("/"), parts["SignedHeaders"].split(";")
    date, region, service = credential[1], credential[2], credential[3]
    canonical = "\n".join(
        [
            method,
            quote(path, safe="/~"),
            "",
            "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in signed),
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join([scheme, headers["x-amz-date"], scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), date), region), service), "aws4_request")
    return hmac.compare_digest(hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), parts["Signature"])


class FakeAdminApi:
    """A local stand-in for the admin REST API: IAM auth by signature, then the admin Lambda on a proxy event.

    It knows the secret key of the credentials in the environment when it starts (moto's fake ones)."""

    def __init__(self, stage: str = "prod"):
        self.requests: list[dict] = []
        self.secret_key, self.token = os.environ["AWS_SECRET_ACCESS_KEY"], os.environ.get("AWS_SESSION_TOKEN")
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                api.requests.append({"path": self.path, "headers": headers, "body": body.decode()})
                path = urlsplit(self.path).path
                if not sigv4_valid("POST", path, headers, body, api.secret_key):
                    status, payload = 403, json.dumps({"message": "The request signature we calculated does not match"})
                else:
                    event = rest_event("POST", path.removeprefix(f"/{stage}"), body.decode() or None)
                    response = handler_module("admin").handler(event, LambdaContext())
                    status, payload = response["statusCode"], response["body"]
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(payload.encode())

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{stage}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def admin_api(deployed):  # noqa: F811 (the fixture imported above)
    api = FakeAdminApi()
    yield api
    api.close()


def test_aiv_admin_resume_and_pause_through_the_signed_api(admin_api, capsys):
    assert main(["admin", "resume", "--api", admin_api.url, "--region", REGION]) == 0
    assert "schedule rate(1 day) enabled; next run: 20" in capsys.readouterr().out
    scheduler = boto3.client("scheduler")
    assert scheduler.get_schedule(Name=SCHEDULE, GroupName=SCHEDULE_GROUP)["State"] == "ENABLED"
    assert main(["admin", "pause", "--api", admin_api.url, "--region", REGION, "--json"]) == 0
    out = capsys.readouterr().out  # after the admin Lambda's own metric line: it runs in this process
    assert json.loads(out[out.index("{\n") :])["enabled"] is False
    assert scheduler.get_schedule(Name=SCHEDULE, GroupName=SCHEDULE_GROUP)["State"] == "DISABLED"
    authorization = admin_api.requests[0]["headers"]["authorization"]
    assert f"/{REGION}/execute-api/aws4_request" in authorization
    assert admin_api.requests[0]["headers"].get("x-amz-security-token") == admin_api.token


def test_aiv_admin_start_run_and_its_refusal(admin_api, capsys):
    assert (
        main(
            [
                "admin",
                "start-run",
                "--api",
                admin_api.url,
                "--region",
                REGION,
                "--candidates",
                "3",
                "--corpus",
                "derf-cif",
            ]
        )
        == 0
    )
    assert "started arn:aws:states:" in capsys.readouterr().out
    assert json.loads(admin_api.requests[-1]["body"]) == {"candidates": 3, "corpus": "derf-cif"}
    assert main(["admin", "rerun", "exp-nope", "--api", admin_api.url, "--region", REGION]) == 1
    assert "the admin API answered HTTP 404: no experiment exp-nope" in capsys.readouterr().err


def test_a_request_signed_with_other_credentials_is_refused(admin_api, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-key-the-api-knows")
    with pytest.raises(AdminApiError, match="HTTP 403: The request signature"):
        AdminClient(admin_api.url, region=REGION).pause()


def test_the_region_comes_from_the_api_url():
    client = AdminClient("https://abc123.execute-api.ap-southeast-2.amazonaws.com/prod")
    assert client.region == "ap-southeast-2"


def test_signed_requests_are_not_sent_in_clear_text():
    with pytest.raises(ConfigError, match="must start with https://"):
        AdminClient("http://abc123.execute-api.eu-west-1.amazonaws.com/prod")
