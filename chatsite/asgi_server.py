"""uvicorn's HTTP and WebSocket protocols with the limits the product needs.

uvicorn is the default server (chatsite.serve runs it in-process with these
classes). Two things its stock protocols do not do:

* **Cap the request head.** httptools accepts a request line and headers of
  any size, and the WebSocket upgrade then hands them to the `websockets`
  parser, whose own limit (8 KiB a line) fails silently under uvicorn: a
  handshake with a 10,000-character `?token=` got no answer at all. Here a
  request line over MAX_URL_BYTES is answered 414, headers over
  MAX_HEADER_LINE_BYTES a line, MAX_HEADERS in number or MAX_HEADER_BYTES in
  all 431, at once and for HTTP and WebSocket alike (both limits sit below
  the `websockets` parser's, so whatever passes here parses there).
* **Drop a socket that stopped reading.** uvicorn waits for the transport to
  drain before sending anything, a close frame included, so a client that
  never reads could not even be told to go away. When the gateway closes such
  a socket (its queue overflowed: chatsite.gateway.consumer) the close frame is
  queued behind what the client has not read, and the connection is cut
  SLOW_CLOSE_ABORT_S later if the client still reads nothing.

And one thing it adds, as an ASGI extension (`chatsite.websocket.send_batch`
in the scope's `extensions`): the message `{"type":
"websocket.send_batch", "texts": [...]}` sends its texts as one WebSocket
text frame each, in order, written to the socket in one call. The gateway
queues what a socket is sent and hands over all that is queued at once; a
`sync` answer is twenty-odd frames, and sending each through the ASGI chain
and the transport was a tenth of a node's CPU during a mass reconnect
(docs/performance.md). Under daphne, which does not offer the extension, the
gateway sends frame by frame.
"""

from __future__ import annotations

import logging

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

logger = logging.getLogger("chatsite.access")

MAX_URL_BYTES = 8000
MAX_HEADER_LINE_BYTES = 8000
MAX_HEADERS = 100
MAX_HEADER_BYTES = 32 * 1024
SLOW_CLOSE_ABORT_S = 5.0
SEND_BATCH = "chatsite.websocket.send_batch"

_REASONS = {414: b"URI Too Long", 431: b"Request Header Fields Too Large"}


class _HeadTooLarge(Exception):
    pass


class HttpProtocol(HttpToolsProtocol):
    """HTTP/1.1 (httptools) with a capped request head: 414 / 431."""

    _refusal: int | None = None
    _head_bytes = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._refusal = None
        self._head_bytes = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_URL_BYTES:
            self._refuse(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        line = len(name) + len(value) + 2
        self._head_bytes += line + 2
        if line > MAX_HEADER_LINE_BYTES or len(self.headers) >= MAX_HEADERS or self._head_bytes > MAX_HEADER_BYTES:
            self._refuse(431)
        super().on_header(name, value)

    def _refuse(self, status: int) -> None:
        self._refusal = status
        raise _HeadTooLarge()

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return  # answered already; the connection is closing
        # The stock handling, plus the refusals raised by the callbacks above.
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._refusal is not None:
                self._send_refusal(self._refusal)
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def _send_refusal(self, status: int) -> None:
        client = self.client[0] if self.client else "-"
        logger.info("%s refused: request head too large (%s)", client, status)
        body = b'{"error": {"code": "too_large", "message": "The request line or headers are too long."}}'
        head = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status])]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        self.transport.close()


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """WebSockets (websockets' sans-I/O core) that can close a socket whose
    client stopped reading, and send a batch of frames in one write."""

    def handle_connect(self, event) -> None:
        super().handle_connect(event)
        # The app's task is created above but has not run: it sees the extension.
        if not self.close_sent:
            self.scope["extensions"][SEND_BATCH] = {}

    async def send(self, message) -> None:
        if message["type"] == "websocket.send_batch":
            await self._send_batch(message["texts"])
            return
        if (
            message["type"] == "websocket.close"
            and self.handshake_complete
            and not self.close_sent
            and not self.writable.is_set()
        ):
            # Queue the close behind the unread frames instead of waiting for
            # a drain that may never come; cut the connection if it stays stuck.
            self.writable.set()
            self.loop.call_later(SLOW_CLOSE_ABORT_S, self._abort_if_open)
        await super().send(message)

    async def _send_batch(self, texts: list[str]) -> None:
        """Each text as a frame, all in one write (as `websocket.send` does
        for one: wait while the client is not reading; a socket that is gone
        raises ClientDisconnected)."""
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        if not self.handshake_complete or self.close_sent or self.initial_response is not None:
            raise RuntimeError("websocket.send_batch is only valid on an open, accepted WebSocket.")
        try:
            for text in texts:
                self.conn.send_text(text.encode())
        except InvalidState:
            raise ClientDisconnected() from None
        self.transport.write(b"".join(self.conn.data_to_send()))

    def _abort_if_open(self) -> None:
        if not self.disconnected and self.transport is not None:
            client = self.client[0] if self.client else "-"
            logger.info("%s websocket dropped: it read nothing after being closed", client)
            self.transport.abort()
