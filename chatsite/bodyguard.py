"""A cap on HTTP request bodies for any ASGI server.

Django's ASGI handler reads the whole body (spooling to disk) before the view
runs, so no view can stop an oversized upload while it arrives. This wraps the
application: a Content-Length over the cap is answered 413 `too_large` before
any of the body is read, and a body without one (chunked) is cut off with the
same answer at the first chunk past the cap. The cap is one file at
MAX_FILE_BYTES plus the multipart framing allowance; Django's own limits
apply below it. (Under daphne, chatsite/daphne_body.py does the same inside Twisted,
which would otherwise buffer and parse the body first.)
"""

from __future__ import annotations

import json

from django.conf import settings

# What multipart/form-data framing may add around one file of MAX_FILE_BYTES.
MULTIPART_OVERHEAD = 64 * 1024


def body_cap() -> int:
    return settings.MAX_FILE_BYTES + MULTIPART_OVERHEAD


async def _refuse(send, cap: int) -> None:
    body = json.dumps(
        {"error": {"code": "too_large", "message": f"A request body may have at most {cap} bytes."}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyGuard:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        cap = body_cap()
        for name, value in scope.get("headers") or ():
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > cap:
                    return await _refuse(send, cap)
                break
        state = {"seen": 0, "refused": False}

        async def guarded_receive():
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > cap:
                    state["refused"] = True
                    await _refuse(send, cap)
                    # Django sees the client go away and answers nothing itself.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if state["refused"]:
                return
            await send(message)

        return await self.app(scope, guarded_receive, guarded_send)
