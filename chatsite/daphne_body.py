"""Guards for request bodies in daphne, the supported alternative to uvicorn (ASGI_SERVER=daphne).

What daphne (Twisted underneath) does with a request body, measured on this
stack (docs/files.md "Uploads under daphne"):

- It receives the whole body, to a temporary file, before the application
  sees any of it; so no check in Django can stop a body while it arrives.
- Twisted then parses every multipart/form-data body into `request.args` with
  the `email` package, which daphne never uses: a 100 MiB upload made the
  process peak at 1.35 GB, a 300 MiB one at 4.4 GB.
- daphne then queues the whole body in memory for the application.

`install()` swaps daphne's request class for one that does not parse form
bodies (Twisted's own switch, `parsePOSTFormSubmission`), and that answers
413 `too_large` and closes the connection as soon as a body is over
MAX_FILE_BYTES plus the multipart framing allowance: at once when
Content-Length says so, else at the first chunk over it (chunked bodies).
Django's own limits (files/uploads.py, DATA_UPLOAD_MAX_MEMORY_SIZE) still
apply below that cap. Behind nginx, `client_max_body_size` does the same
earlier (docs/files.md).
"""

from __future__ import annotations

import json
import logging

from chatsite.bodyguard import body_cap

logger = logging.getLogger(__name__)


def _too_large_response() -> bytes:
    body = json.dumps(
        {"error": {"code": "too_large", "message": f"A request body may have at most {body_cap()} bytes."}}
    ).encode()
    head = (
        "HTTP/1.1 413 Payload Too Large\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head + body


def install() -> bool:
    """Install the guarded request class in daphne (idempotent). Returns
    False when daphne is not importable."""
    try:
        # daphne is optional (ASGI_SERVER=daphne); without it there is nothing to guard.
        from daphne import http_protocol
    except ImportError:  # pragma: no cover - daphne is a runtime dependency
        return False
    base = http_protocol.WebRequest
    if getattr(base, "guards_body", False):
        return True

    class GuardedWebRequest(base):  # type: ignore[misc, valid-type]
        guards_body = True

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # daphne hands the raw body to the application; Twisted's parse of
            # it into request.args would only hold it in memory many times over.
            self._parsePOSTFormSubmission = False
            self._body_received = 0
            self._body_refused = False

        def gotLength(self, length):
            if length is not None and length > body_cap():
                super().gotLength(0)
                # No "100 Continue" after the 413: the client sends nothing.
                self.requestHeaders.removeHeader(b"Expect")
                self._refuse_body()
                return
            super().gotLength(length)

        def handleContentChunk(self, data):
            if self._body_refused:
                return
            self._body_received += len(data)
            if self._body_received > body_cap():
                self._refuse_body()
                return
            super().handleContentChunk(data)

        def requestReceived(self, command, path, version):
            if self._body_refused:
                return  # answered already; the connection is closing
            super().requestReceived(command, path, version)

        def _refuse_body(self) -> None:
            if self._body_refused:
                return
            self._body_refused = True
            logger.info("refused a request body over %d bytes", body_cap())
            transport = self.channel.transport if self.channel is not None else None
            if transport is not None:
                transport.write(_too_large_response())
                self.channel.loseConnection()

    GuardedWebRequest.__name__ = GuardedWebRequest.__qualname__ = "GuardedWebRequest"
    http_protocol.WebRequest = GuardedWebRequest
    return True
