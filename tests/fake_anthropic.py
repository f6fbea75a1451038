"""A local fake of the Anthropic Messages API: a real HTTP server on 127.0.0.1 with scripted replies.

Queue what POST /v1/messages should answer (a message, an error status with its headers, a raw
body such as truncated JSON, or a reply held back long enough to time the client out); a message
asked for with "stream": true goes out as the API's server-sent events. The server records every
request it gets, so tests can check the prompt and headers the SDK sent. The `fake_anthropic` fixture points the SDK at
it through ANTHROPIC_BASE_URL and sets a test ANTHROPIC_API_KEY.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

TEST_API_KEY = "sk-ant-test-key"
FAST_RETRY = {"retry-after-ms": "1"}  # the SDK honours it, so retries in tests take a millisecond


@dataclass(frozen=True)
class Scripted:
    """One scripted answer: `status`, `headers` and a JSON `body` (or `raw` bytes as they are), sent
    after `delay_s` seconds."""

    status: int = 200
    body: dict | None = None
    headers: dict = field(default_factory=dict)
    delay_s: float = 0.0
    raw: bytes | None = None


@dataclass(frozen=True)
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    headers: dict  # lower-cased names
    body: dict


class FakeAnthropic:
    """The server, its queue of scripted answers and the requests it has received."""

    def __init__(self) -> None:
        self.queue: deque[Scripted] = deque()
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def reply(
        self,
        text: str | None = None,
        *,
        content: list[dict] | None = None,
        input_tokens: int = 1200,
        output_tokens: int = 800,
        stop_reason: str = "end_turn",
        usage: dict | None = None,
    ) -> None:
        """Queue a successful message: `text` as one text block, or explicit `content` blocks.

        The message names the model the request asked for."""
        blocks = content if content is not None else [{"type": "text", "text": text}]
        body = {
            "id": f"msg_fake_{len(self.queue)}",
            "type": "message",
            "role": "assistant",
            "content": blocks,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage
            or {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        self.queue.append(Scripted(200, body))

    def error(self, status: int, error_type: str, message: str, headers: dict | None = None) -> None:
        """Queue an API error in the Messages API's error shape (retry-after-ms: 1 unless headers say)."""
        self.queue.append(
            Scripted(
                status,
                error_body(error_type, message),
                {**FAST_RETRY, "request-id": f"req_fake_{status}", **(headers or {})},
            )
        )

    def raw(self, payload: bytes, status: int = 200) -> None:
        """Queue a response whose body is `payload` exactly (say, JSON cut off halfway)."""
        self.queue.append(Scripted(status, raw=payload))

    def hang(self, delay_s: float) -> None:
        """Queue an answer held back `delay_s` seconds (longer than the client's timeout)."""
        self.queue.append(Scripted(500, error_body("api_error", "too late"), delay_s=delay_s))

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, recorded: Recorded) -> Scripted:
        """What the real API would say about the route and key, else the next scripted answer."""
        with self._lock:
            self.requests.append(recorded)
            if recorded.path.split("?")[0] != "/v1/messages":
                return Scripted(404, error_body("not_found_error", f"no route {recorded.path}"))
            bearer = recorded.headers.get("authorization", "").removeprefix("Bearer ")
            if TEST_API_KEY not in (recorded.headers.get("x-api-key"), bearer):
                return Scripted(401, error_body("authentication_error", "invalid x-api-key"))
            if self.queue:
                return self.queue.popleft()
        return Scripted(500, error_body("api_error", "fake: no scripted response left"), {"x-should-retry": "false"})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                recorded = Recorded(
                    "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw) if raw else {}
                )
                answer = fake._answer(recorded)
                body = answer.body
                is_message = body is not None and body.get("type") == "message"
                if is_message and "model" not in body:
                    body = {**body, "model": recorded.body.get("model")}  # a reply names the model asked for
                if answer.delay_s and fake._closing.wait(answer.delay_s):
                    return
                streamed = is_message and recorded.body.get("stream") is True
                payload = (
                    answer.raw
                    if answer.raw is not None
                    else server_sent_events(body)
                    if streamed
                    else json.dumps(body).encode()
                )
                try:
                    self.send_response(answer.status)
                    self.send_header("content-type", "text/event-stream" if streamed else "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing left to answer

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
                pass

        return Handler


def server_sent_events(message: dict) -> bytes:
    """`message` as the Messages API streams it: message_start, each block's start, delta and stop,
    message_delta with the stop reason and output tokens, message_stop."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 0}}
    events = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            empty, deltas = {"type": "text", "text": ""}, [{"type": "text_delta", "text": block["text"]}]
        elif block["type"] == "thinking":
            empty = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": block["thinking"]},
                {"type": "signature_delta", "signature": block.get("signature", "")},
            ]
        else:
            empty, deltas = block, []
        events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": empty}))
        events += [
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}) for delta in deltas
        ]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()


def error_body(error_type: str, message: str) -> dict:
    """An error in the Messages API's shape."""
    return {"type": "error", "error": {"type": error_type, "message": message}}


@pytest.fixture
def fake_anthropic(monkeypatch: pytest.MonkeyPatch):
    """A running FakeAnthropic with ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY pointing the SDK at it."""
    fake = FakeAnthropic()
    for name in ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_CUSTOM_HEADERS", "ANTHROPIC_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_API_KEY)
    yield fake
    fake.close()
