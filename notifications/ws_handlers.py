"""Notifications have no frames of their own; this module (autodiscovered with
every app's frame handlers) registers the embedded server's push sender."""

from __future__ import annotations

import asyncio

from django.conf import settings

from chatsite import lifespan
from notifications.delivery import Sender


@lifespan.task("push sender")
async def push_sender() -> None:
    """Embedded (the in-process bus): the server sends the pushes itself. With
    Kafka the notifier process (`manage.py run_notifier`) does."""
    if settings.BUS_BACKEND != "inprocess":
        return
    sender = await asyncio.to_thread(lambda: Sender().start())
    try:
        await asyncio.Event().wait()
    finally:
        await asyncio.to_thread(sender.stop)
