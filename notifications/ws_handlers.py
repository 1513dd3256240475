"""Notifications have no frames of their own; this module (autodiscovered with
every app's frame handlers) registers the embedded server's push sender."""

from __future__ import annotations

from chatsite import lifespan
from chatsite.sendloop import run_while_serving
from notifications.delivery import Sender


@lifespan.task("push sender")
async def push_sender() -> None:
    """Embedded (the in-process bus): the server sends the pushes itself. With
    Kafka the notifier process (`manage.py run_notifier`) does."""
    await run_while_serving(Sender)
