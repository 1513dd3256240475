"""The gateway's own frame: ping."""

from __future__ import annotations

from chatsite.gateway.registry import frame_handler


@frame_handler("ping")
async def handle_ping(conn, frame: dict) -> None:
    await conn.send_frame({"type": "pong", "ref": frame.get("ref")})
