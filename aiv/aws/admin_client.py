"""The admin API's client: SigV4-signed requests (service "execute-api") with the caller's AWS credentials.

The API (functions/admin.py) uses IAM auth, so a request counts only when signed by a principal
allowed execute-api:Invoke on it. Credentials and region come from the usual AWS chain (profile,
environment, SSO); the region also from the API URL (https://<id>.execute-api.<region>.amazonaws.com/<stage>).
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import HTTPClientError
from botocore.httpsession import URLLib3Session

from aiv.errors import AivError, ConfigError

SERVICE = "execute-api"
LOOPBACK = ("127.0.0.1", "localhost")  # plain http is accepted only for a local test endpoint
_REGION_IN_URL = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com")


class AdminApiError(AivError):
    """The admin API refused or failed a request: the HTTP status and the API's message."""

    def __init__(self, status: int, message: str):
        super().__init__(f"the admin API answered HTTP {status}: {message}")
        self.status = status
        self.message = message


class AdminClient:
    """Calls the admin API at `api_url` (the stage URL, e.g. https://abc.execute-api.eu-west-1.amazonaws.com/prod)."""

    def __init__(
        self,
        api_url: str,
        region: str | None = None,
        session: botocore.session.Session | None = None,
        http: URLLib3Session | None = None,
    ):
        parts = urlsplit(api_url)
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
            raise ConfigError(
                f"the admin API URL must start with https:// (signed requests are not sent in "
                f"clear text), got {api_url!r}"
            )
        self.api_url = api_url.rstrip("/")
        self.session = session or botocore.session.get_session()
        found = _REGION_IN_URL.search(api_url)
        self.region = region or (found.group(1) if found else None) or self.session.get_config_variable("region")
        if not self.region:
            raise ConfigError(f"cannot tell the region of {api_url}; pass --region")
        self.http = http or URLLib3Session()

    def pause(self) -> dict:
        """Disable the schedule; the "schedule" document."""
        return self.post("/admin/pause")

    def resume(self) -> dict:
        """Enable the schedule; the "schedule" document."""
        return self.post("/admin/resume")

    def start_run(self, candidates: int | None = None, proposer: str | None = None, corpus: str | None = None) -> dict:
        """Start an execution of the state machine (on the uploaded clip set `corpus` when given);
        {"execution_arn", "started_at", "input"}."""
        body = {
            key: value
            for key, value in (("candidates", candidates), ("proposer", proposer), ("corpus", corpus))
            if value is not None
        }
        return self.post("/admin/runs", body)

    def rerun(self, experiment_id: str) -> dict:
        """Start an execution that re-evaluates the experiment's code; {"execution_arn", "started_at", "input"}."""
        return self.post(f"/admin/experiments/{experiment_id}/rerun")

    def import_codec(self, name: str, source: str, candidates: int | None = None, proposer: str | None = None) -> dict:
        """Enter a researcher's codec module into the archive and start an execution that evaluates it as a
        seed; {"experiment_id", "created", "execution_arn", "started_at", "input"}."""
        body = {
            key: value
            for key, value in (("name", name), ("source", source), ("candidates", candidates), ("proposer", proposer))
            if value is not None
        }
        return self.post("/admin/imports", body)

    def signed_request(self, path: str, body: dict | None = None) -> AWSRequest:
        """The POST request to `path`, signed with SigV4 for this region."""
        credentials = self.session.get_credentials()
        if credentials is None:
            raise ConfigError("no AWS credentials found (profile, environment or SSO) to sign the admin request")
        request = AWSRequest(
            method="POST",
            url=self.api_url + path,
            data=json.dumps(body or {}).encode(),
            headers={"Content-Type": "application/json"},
        )
        SigV4Auth(credentials.get_frozen_credentials(), SERVICE, self.region).add_auth(request)
        return request

    def post(self, path: str, body: dict | None = None) -> dict:
        """POST `body` to `path`, signed; the JSON answer, or AdminApiError with the API's message."""
        try:
            response = self.http.send(self.signed_request(path, body).prepare())
        except HTTPClientError as exc:
            raise AivError(f"cannot reach the admin API at {self.api_url}: {exc}") from exc
        text = response.content.decode("utf-8", "replace")
        try:
            answer = json.loads(text) if text else {}
        except json.JSONDecodeError:
            answer = {"message": text}
        if not 200 <= response.status_code < 300:
            message = answer.get("message") or answer.get("Message") if isinstance(answer, dict) else None
            raise AdminApiError(response.status_code, message or text or "no message")
        return answer
