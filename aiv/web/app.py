"""The dashboard as one function of a request: `Dashboard(experiments, artifacts).handle(request) -> Response`.

No HTTP framework here: `aiv serve` (aiv/web/server.py) and the Lambda adapter each turn their
request into a `Request` and send the `Response` back. Read-only: GET and HEAD only, anything
else is 405. A page that fails is a 500 page naming an error id that is logged with the trace;
the trace itself never reaches the browser.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from importlib import resources
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from aiv.store.ports import ArtifactStore, ExperimentStore
from aiv.web import views

log = logging.getLogger("aiv.web")

STATIC_DIR = Path(__file__).parent / "static"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
PLOTLY_JS = "plotly.min.js"
HTML = "text/html; charset=utf-8"
PAGE_CACHE = "public, max-age=15"  # CloudFront's short cache; presigned links inside live an hour
STATIC_CACHE = "public, max-age=31536000, immutable"  # static URLs carry a content hash
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' https:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
READ_METHODS = ("GET", "HEAD")
STATUS_SYMBOLS = {
    "succeeded": "✓",
    "failed": "✗",
    "rejected": "⊘",
    "proposed": "○",
    "validating": "◔",
    "evaluating": "◑",
    "running": "▶",
    "finished": "■",
    "interrupted": "⏸",
    "crashed": "✗",
    "paused": "⏸",
    "idle": "■",
}  # a status reads without colour: symbol and word


@dataclass(frozen=True)
class Request:
    """An HTTP request as the dashboard sees it: `path` is already percent-decoded, one value per query key."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A request header by case-insensitive name, or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), None)


@dataclass
class Response:
    """What to send back. For HEAD the transport sends the headers and drops the body."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


@dataclass(frozen=True)
class StaticAsset:
    """A file served under /static/: its bytes, type and content hash (its ETag and URL version)."""

    body: bytes
    content_type: str
    digest: str


@cache
def static_asset(name: str) -> StaticAsset | None:
    """One of the dashboard's own static files or plotly.js from the installed plotly package; None if unknown."""
    if name == PLOTLY_JS:
        body = (resources.files("plotly") / "package_data" / PLOTLY_JS).read_bytes()
    elif re.fullmatch(r"[a-z0-9_-]+\.(css|js)", name) and (STATIC_DIR / name).is_file():
        body = (STATIC_DIR / name).read_bytes()
    else:
        return None
    return StaticAsset(body, STATIC_TYPES[Path(name).suffix], hashlib.sha256(body).hexdigest()[:16])


def static_url(name: str) -> str:
    """The URL of a static file, versioned by its content so it can be cached for a year."""
    asset = static_asset(name)
    if asset is None:
        raise ValueError(f"no static file {name!r}")
    return f"/static/{name}?v={asset.digest}"


def _json_script(value: object) -> Markup:
    """JSON for a <script type="application/json"> block: no NaN, and nothing that can close the tag."""
    text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}%"


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _usd(value: float | None) -> str:
    if value is None:
        return "—"
    return f"${value:,.2f}" if abs(value) >= 10 else f"${value:.4f}"


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _when(iso: str | None) -> str:
    return "—" if not iso else iso[:19].replace("T", " ") + " UTC"


def _pretty(value: object) -> str:
    return json.dumps(value, indent=1, sort_keys=True, default=str)


def make_environment() -> Environment:
    """The Jinja2 environment: every template autoescaped, undefined names an error."""
    env = Environment(
        loader=PackageLoader("aiv.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(json_script=_json_script, pct=_pct, num=_num, usd=_usd, ago=_ago, when=_when, pretty=_pretty)
    env.globals.update(static_url=static_url, status_symbols=STATUS_SYMBOLS)
    return env


_ID = r"(?P<experiment_id>[A-Za-z0-9][A-Za-z0-9_.-]*)"


class Dashboard:
    """The dashboard over an experiment store and an artifact store (artifact links from `artifacts.url`)."""

    def __init__(self, experiments: ExperimentStore, artifacts: ArtifactStore):
        self.experiments, self.artifacts = experiments, artifacts
        self.env = make_environment()
        self.routes: list[tuple[re.Pattern, Callable[..., Response]]] = [
            (re.compile(pattern), handler)
            for pattern, handler in (
                (r"/", self._overview),
                (r"/experiments", self._experiments),
                (rf"/experiments/{_ID}", self._experiment),
                (rf"/experiments/{_ID}/codec\.py", self._codec),
                (rf"/experiments/{_ID}/result\.json", self._result),
                (r"/leaderboard", self._leaderboard),
                (r"/lineage", self._lineage),
                (r"/costs", self._costs),
                (r"/activity", self._activity),
                (r"/static/(?P<name>[A-Za-z0-9_.-]+)", self._static),
            )
        ]

    def handle(self, request: Request) -> Response:
        """The response to `request`; never raises."""
        try:
            if request.method.upper() not in READ_METHODS:
                return self.error_response(
                    405,
                    f"{request.method} is not allowed: this dashboard is read-only",
                    {"Allow": ", ".join(READ_METHODS)},
                )
            path = request.path.rstrip("/") or "/"
            for pattern, handler in self.routes:
                match = pattern.fullmatch(path)
                if match:
                    return handler(request, **match.groupdict())
            return self.error_response(404, f"there is no page at {request.path}")
        except views.NotFound as missing:
            return self.error_response(404, str(missing))
        except views.BadRequest as bad:
            return self.error_response(400, str(bad))
        except Exception:
            error_id = uuid.uuid4().hex[:12]
            log.exception("dashboard error %s on %s %s", error_id, request.method, request.path)
            return self.error_response(
                500, f"this page failed; the server log has the details under error id {error_id}"
            )

    # --- rendering -------------------------------------------------------------------------------

    def _render(
        self, template: str, page: str | None, context: dict, status: int = 200, headers: dict | None = None
    ) -> Response:
        body = (
            self.env.get_template(template)
            .render(context, page=page, generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
            .encode()
        )
        cache_control = PAGE_CACHE if status == 200 else "no-store"
        return Response(
            status, body, {"Content-Type": HTML, "Cache-Control": cache_control, **SECURITY_HEADERS, **(headers or {})}
        )

    def error_response(self, status: int, message: str, headers: dict | None = None) -> Response:
        """The error page for `status` saying `message` (which must hold no secret: the browser sees it)."""
        try:
            return self._render("error.html", None, {"code": status, "message": message}, status, headers)
        except Exception:  # the error page itself failed: plain text, still without a trace
            log.exception("the error page failed")
            return Response(
                status,
                f"{status}: {message}\n".encode(),
                {
                    "Content-Type": "text/plain; charset=utf-8",
                    "Cache-Control": "no-store",
                    **SECURITY_HEADERS,
                    **(headers or {}),
                },
            )

    @staticmethod
    def _query(request: Request, name: str, default: str | None = None) -> str | None:
        return request.query.get(name) or default

    # --- pages -----------------------------------------------------------------------------------

    def _overview(self, request: Request) -> Response:
        return self._render(
            "overview.html", "overview", views.overview(self.experiments, self._query(request, "benchmark"))
        )

    def _experiments(self, request: Request) -> Response:
        view = views.experiment_list(
            self.experiments,
            self._query(request, "status"),
            self._query(request, "sort", "time"),
            self._query(request, "split", "train"),
            self._query(request, "cursor"),
            self._query(request, "benchmark"),
        )
        return self._render("experiments.html", "experiments", view)

    def _experiment(self, request: Request, experiment_id: str) -> Response:
        view = views.experiment_detail(self.experiments, self.artifacts, experiment_id)
        return self._render("experiment.html", "experiments", view)

    def _codec(self, request: Request, experiment_id: str) -> Response:
        body = views.experiment_file(self.experiments, self.artifacts, experiment_id, "code_key")
        return self._download(body, "text/x-python; charset=utf-8", f"{experiment_id}.py")

    def _result(self, request: Request, experiment_id: str) -> Response:
        body = views.experiment_file(self.experiments, self.artifacts, experiment_id, "result_key")
        return self._download(body, "application/json", f"{experiment_id}-result.json")

    @staticmethod
    def _download(body: bytes, content_type: str, filename: str) -> Response:
        return Response(
            200,
            body,
            {
                "Content-Type": content_type,
                "Cache-Control": PAGE_CACHE,
                "Content-Disposition": f'attachment; filename="{filename}"',
                **SECURITY_HEADERS,
            },
        )

    def _leaderboard(self, request: Request) -> Response:
        view = views.leaderboard(
            self.experiments,
            self.artifacts,
            self._query(request, "split", "train"),
            self._query(request, "clip"),
            self._query(request, "benchmark"),
        )
        return self._render("leaderboard.html", "leaderboard", view)

    def _lineage(self, request: Request) -> Response:
        return self._render(
            "lineage.html", "lineage", views.lineage(self.experiments, self._query(request, "benchmark"))
        )

    def _costs(self, request: Request) -> Response:
        return self._render("costs.html", "costs", views.costs(self.experiments, self._query(request, "benchmark")))

    def _activity(self, request: Request) -> Response:
        return self._render("activity.html", "activity", views.activity(self.experiments))

    def _static(self, request: Request, name: str) -> Response:
        asset = static_asset(name)
        if asset is None:
            raise views.NotFound(f"no static file {name}")
        etag = f'"{asset.digest}"'
        headers = {
            "Content-Type": asset.content_type,
            "Cache-Control": STATIC_CACHE,
            "ETag": etag,
            "X-Content-Type-Options": "nosniff",
        }
        if request.header("If-None-Match") == etag:
            return Response(304, b"", headers)
        return Response(200, asset.body, headers)
