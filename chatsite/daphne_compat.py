"""Let daphne close WebSockets with the codes the protocol needs.

autobahn's sendClose() accepts only 1000 and 3000-4999 from the application,
but RFC 6455 and the IANA registry give servers 1001 (going away), 1011
(internal error), 1012 (service restart) and 1013 (try again later), and our
contract uses 1001 and 1012. Without this, daphne raises on close(1012) and the
socket is left open. Codes in that list are sent with autobahn's own
sendCloseFrame, which sendClose calls after its check; everything else goes
through sendClose unchanged.
"""

from __future__ import annotations

SERVER_CODES = {1001, 1011, 1012, 1013}
_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # not running under daphne
        return
    original = WebSocketProtocol.serverClose

    def server_close(self, code=None):
        if code in SERVER_CODES:
            self.sendCloseFrame(code=code, isReply=False)
            return
        original(self, code)

    WebSocketProtocol.serverClose = server_close
    _installed = True
