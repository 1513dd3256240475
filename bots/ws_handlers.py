"""Bots' frames: `command.run` (a slash command), and the embedded server's
sender of bots' outgoing events."""

from __future__ import annotations

from bots.commands import do_run_command
from bots.events import Sender
from chatsite import lifespan
from chatsite.gateway.registry import frame_handler
from chatsite.sendloop import run_while_serving


@frame_handler("command.run")
async def handle_command_run(conn, frame: dict) -> None:
    # The service counts the command against the caller's message budget. A
    # bot may answer before the ack is written (in process, or a fast bots
    # worker): its ephemeral answer waits for the ack.
    with conn.answers_after():
        ran = await conn.run_sync(
            do_run_command,
            user=conn.user,
            conversation_id=frame.get("conversation"),
            text=frame.get("text"),
            client_msg_id=frame.get("client_msg_id"),
        )
        await conn.send_frame(
            {
                "type": "command.ack",
                "ref": frame["ref"],
                "command": ran.command,
                "status": ran.status,
                "client_msg_id": ran.client_msg_id,
            }
        )


@lifespan.task("bot event sender")
async def bot_event_sender() -> None:
    """Embedded (the in-process bus): the server sends bots' events itself.
    With Kafka the bots worker (`manage.py run_bot_worker`) does."""
    await run_while_serving(Sender)
