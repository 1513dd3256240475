"""Let daphne close WebSockets with the codes the protocol needs, and drop
the ones that stopped reading.

autobahn's sendClose() accepts only 1000 and 3000-4999 from the application,
but RFC 6455 and the IANA registry give servers 1001 (going away), 1011
(internal error), 1012 (service restart) and 1013 (try again later), and our
contract uses 1001 and 1012. Without this, daphne raises on close(1012) and the
socket is left open. Codes in that list are sent with autobahn's own
sendCloseFrame, which sendClose calls after its check; everything else goes
through sendClose unchanged.

Twisted never makes a write wait: what a client does not read piles up in
the transport's buffer without bound (under uvicorn the gateway's own queue
fills and the socket is closed: chatsite.asgi_server). Here a socket whose
unsent bytes pass MAX_UNSENT_BYTES is cut (the client sees 1006, reconnects
and syncs) instead of growing the server's memory.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("chatsite.access")

SERVER_CODES = {1001, 1011, 1012, 1013}
MAX_UNSENT_BYTES = 8 * 1024 * 1024
_installed = False


def unsent_bytes(transport) -> int:
    """Bytes written to a Twisted transport and not yet sent."""
    return len(getattr(transport, "dataBuffer", b"")) + getattr(transport, "_tempDataLen", 0)


def install() -> None:
    global _installed
    if _installed:
        return
    try:
        # daphne is optional (ASGI_SERVER=daphne).
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # not running under daphne
        return
    original = WebSocketProtocol.serverClose

    def server_close(self, code=None):
        if code in SERVER_CODES:
            self.sendCloseFrame(code=code, isReply=False)
            return
        original(self, code)

    original_send = WebSocketProtocol.serverSend

    def server_send(self, content, binary=False):
        transport = self.transport
        if transport is None or getattr(self, "wsc_dropped", False):
            return
        if unsent_bytes(transport) > MAX_UNSENT_BYTES:
            self.wsc_dropped = True
            logger.info(
                "%s websocket dropped: it read nothing of %s bytes", (self.client_addr or ["-"])[0], MAX_UNSENT_BYTES
            )
            transport.abortConnection()
            return
        original_send(self, content, binary)

    WebSocketProtocol.serverClose = server_close
    WebSocketProtocol.serverSend = server_send
    _installed = True
