"""Baseline: a bare Channels relay of the same frames over a stock channel layer.

Served by daphne as `bench.baselines.channels_relay:application` with
DJANGO_SETTINGS_MODULE=bench.baselines.channels_relay and
BENCH_LAYER=core|pubsub (channels_redis RedisChannelLayer or
RedisPubSubChannelLayer) and REDIS_URL. Each socket joins the group
`user.<name>`; `message.send` is acked to the sender and group_sent to the
recipient's group. No auth, no storage: the cost of Channels + the layer alone.
"""

from __future__ import annotations

import json
import os
import uuid
from urllib.parse import parse_qs

# --- settings (this module doubles as the Django settings module) -------------
SECRET_KEY = "bench-only-" + "x" * 40
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels"]
USE_TZ = True
_REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/8")
_LAYER = os.environ.get("BENCH_LAYER", "pubsub")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer"
        if _LAYER == "core"
        else "channels_redis.pubsub.RedisPubSubChannelLayer",
        # One prefix for the relay's processes of one run (several nodes share the groups).
        "CONFIG": {
            "hosts": [{"address": _REDIS, "max_connections": 1000}],
            "prefix": os.environ.get("BENCH_RELAY_PREFIX", f"benchrelay{os.getpid()}"),
        },
    }
}

import django  # noqa: E402

django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class Relay(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.name = parse_qs(self.scope["query_string"].decode()).get("token", [""])[0]
        await self.channel_layer.group_add(f"user.{self.name}", self.channel_name)
        await self.accept()
        await self.send(json.dumps({"type": "hello", "user": {"id": self.name}}))

    async def disconnect(self, code) -> None:
        await self.channel_layer.group_discard(f"user.{self.name}", self.channel_name)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        frame = json.loads(text_data)
        if frame.get("type") == "ping":
            await self.send(json.dumps({"type": "pong", "ref": frame.get("ref")}))
            return
        if frame.get("type") != "message.send":
            return
        cmid = frame.get("client_msg_id")
        message = {
            "id": str(uuid.uuid4()),
            "conversation": frame["conversation"],
            "seq": 0,
            "sender": {"id": self.name},
            "kind": "text",
            "content": frame.get("content"),
            "client_msg_id": cmid,
        }
        await self.send(json.dumps({"type": "message.ack", "client_msg_id": cmid, "ref": cmid, "status": "accepted"}))
        await self.send(
            json.dumps(
                {"type": "message.ack", "client_msg_id": cmid, "ref": cmid, "status": "stored", "message": message}
            )
        )
        await self.channel_layer.group_send(
            f"user.{frame['conversation']}",
            {"type": "chat.event", "text": json.dumps({"type": "message.new", "message": message})},
        )

    async def chat_event(self, event) -> None:
        await self.send(event["text"])


application = ProtocolTypeRouter({"websocket": URLRouter([path("ws/", Relay.as_asgi())])})
