"""A local stand-in for an OpenAI-compatible chat-completions server, for
tests: a threaded http.server on 127.0.0.1 and an ephemeral port.

    with LLMStandIn() as server:
        complete(messages, url=server.url, ...)
        server.requests[-1].body["model"]

It records every request and answers deterministically from it:
"summary of N messages: <the start of the last user message>", N counting
the non-system messages. Switches, settable at any time: `status` (answer
that HTTP status with an error body), `delay_s` (wait before answering; cut
short when the server closes), `malformed` (a 200 that is not JSON) and
`reply` (answer this JSON document instead).

`llm_standin` is the same as a pytest fixture; import it into a conftest.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # the parsed JSON, or None when it was not JSON


def standin_answer(body: Any) -> str:
    messages = body.get("messages") if isinstance(body, dict) else None
    messages = [m for m in messages or [] if isinstance(m, dict)]
    counted = [m for m in messages if m.get("role") != "system"]
    last_user = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
    return f"summary of {len(counted)} messages: {str(last_user)[:40]}"


class LLMStandIn:
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.status = 200
        self.delay_s = 0.0
        self.malformed = False
        self.reply: Any = None
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """The base URL, as OpenAI-compatible servers document it."""
        return f"{self.base_url}/v1"

    @property
    def completions_url(self) -> str:
        return f"{self.base_url}/v1/chat/completions"

    def __enter__(self) -> LLMStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                headers = {name.lower(): value for name, value in self.headers.items()}
                standin.requests.append(RecordedRequest("POST", self.path, headers, body))
                standin.respond(self, body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (timeout tests) is not an error here

        self._server = Server(("127.0.0.1", 0), Handler)
        # A short poll keeps shutdown (each test's teardown) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="llm-standin", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def respond(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        if self.delay_s:
            self._closing.wait(self.delay_s)
        if handler.path.split("?", 1)[0] != "/v1/chat/completions":
            self._send(handler, 404, b'{"error": {"message": "not found"}}')
        elif self.status != 200:
            self._send(handler, self.status, b'{"error": {"message": "stand-in failure", "type": "server_error"}}')
        elif self.malformed:
            self._send(handler, 200, b'{"choices": [ this is not json')
        else:
            document = self.reply if self.reply is not None else self.completion(body)
            self._send(handler, 200, json.dumps(document).encode())

    def completion(self, body: Any) -> dict[str, Any]:
        model = body.get("model") if isinstance(body, dict) else None
        return {
            "id": f"chatcmpl-standin-{len(self.requests)}",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": standin_answer(body)},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


@pytest.fixture
def llm_standin() -> Iterator[LLMStandIn]:
    with LLMStandIn() as server:
        yield server
