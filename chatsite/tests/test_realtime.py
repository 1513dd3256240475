"""Real-time fan-out over the channel layer: per-user delivery, the
many-recipient broadcast path, the split message, and a socket that falls
behind its events."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers, get_channel_layer

from chatsite import realtime
from chatsite.gateway.consumer import local_connections
from chatsite.layers import UserLayer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("broadcast_min", [2, 1000])
async def test_every_socket_of_every_recipient_gets_an_event_once(ws_connect, user_factory, settings, broadcast_min):
    layer_setting(settings, broadcast_min=broadcast_min)
    users = [await sync_to_async(user_factory)() for _ in range(20)]
    sockets = [await ws_connect(u) for u in users] + [await ws_connect(users[0])]
    bystander = await ws_connect(await sync_to_async(user_factory)())
    await realtime.adeliver([u.pk for u in users], realtime.frame_envelope({"type": "pong", "ref": "fanout"}))
    for ws in sockets:
        assert await ws.expect("pong") == {"type": "pong", "ref": "fanout"}
    await asyncio.gather(*(ws.silent(0.3) for ws in sockets + [bystander]))


@pytest.mark.parametrize("broadcast_min", [1, 1000])
async def test_split_envelopes_give_one_socket_its_own_frame(ws_connect, alice, bob, settings, broadcast_min):
    layer_setting(settings, broadcast_min=max(2, broadcast_min))
    one, two = await ws_connect(alice), await ws_connect(alice)
    target = next(c.socket_id for c in local_connections() if c.user_id == alice.pk)
    envelope = realtime.split_envelope(target, {"type": "pong", "ref": "own"}, {"type": "pong", "ref": "other"})
    # Delivered with bob too, so that the many-recipient path carries it when it is on.
    await realtime.adeliver([alice.pk, bob.pk], envelope)
    refs = sorted([(await one.expect("pong"))["ref"], (await two.expect("pong"))["ref"]])
    assert refs == ["other", "own"]


def test_the_layer_sends_one_publish_for_many_recipients():
    layer = UserLayer(redis_url="redis://unused", prefix="p", broadcast_min=16)

    class Pipe:
        def __init__(self):
            self.calls = []

        def publish(self, channel, data):
            self.calls.append((channel, data))

    pipe = Pipe()
    many = [f"user.{n}" for n in range(1, 101)]
    assert layer._queue(pipe, [(many, {"type": "chat.frame", "text": "x"})]) == 1
    [(channel, data)] = pipe.calls
    assert (
        channel == b"p:all"
        and data.startswith(b"Muser.1,user.2,")
        and data.endswith(b'\n{"type":"chat.frame","text":"x"}')
    )
    pipe = Pipe()
    assert layer._queue(pipe, [(["user.7", "user.8"], {"type": "chat.frame", "text": "y"})]) == 2
    assert sorted(c for c, _ in pipe.calls) == [b"p:g:user.7", b"p:g:user.8"]


async def test_a_reader_that_falls_behind_is_told_once():
    """Past the layer's capacity the queued messages are dropped for one
    `layer.overflow` (the gateway then closes with 1012, so its client syncs)."""
    layer = UserLayer(capacity=5)
    channel = await layer.new_channel()
    await layer.group_add("user.1", channel)
    for n in range(50):
        await layer.group_send("user.1", {"type": "chat.frame", "text": str(n)})
    assert await layer.receive(channel) == {"type": "layer.overflow"}
    await layer.group_send("user.1", {"type": "chat.frame", "text": "late"})
    with pytest.raises(TimeoutError):  # nothing more: the reader is to reconnect and sync
        await asyncio.wait_for(layer.receive(channel), 0.2)


async def test_a_listener_gets_each_message_in_its_call_and_queued_ones_first():
    layer = UserLayer()
    channel = await layer.new_channel()
    await layer.group_add("user.1", channel)
    await layer.group_send("user.1", {"type": "chat.frame", "text": "queued"})
    got: list[str] = []
    layer.listen(channel, lambda message: got.append(message["text"]))
    assert got == ["queued"]
    await layer.group_send("user.1", {"type": "chat.frame", "text": "direct"})
    await sync_to_async(layer.group_send_many_sync)([(["user.1", "user.2"], {"type": "chat.frame", "text": "sync"})])
    await asyncio.sleep(0)  # from another thread: on the loop's next turn
    assert got == ["queued", "direct", "sync"]
    layer.unlisten(channel)
    assert layer.local_groups() == []


async def test_a_socket_that_falls_behind_is_closed_with_1012(ws_connect, alice, settings):
    """The gateway listens to the layer: its outbox has the bound
    (REALTIME_SOCKET_QUEUE), and past it the socket closes with 1012."""
    settings.REALTIME_SOCKET_QUEUE = 5
    ws = await ws_connect(alice)
    layer = get_channel_layer()
    [conn] = [c for c in local_connections() if c.user_id == alice.pk]
    for n in range(50):  # on this loop, before the socket can send any
        layer._put(conn.channel_name, realtime.frame_envelope({"type": "pong", "ref": str(n)}))
    assert await ws.closed() == 1012


def layer_setting(settings, **config) -> None:
    """The test's own UserLayer configuration (layers are cached per process)."""
    settings.CHANNEL_LAYERS = {
        "default": {
            **settings.CHANNEL_LAYERS["default"],
            "CONFIG": {**settings.CHANNEL_LAYERS["default"]["CONFIG"], **config},
        }
    }
    channel_layers.backends.clear()


@pytest.mark.redis
@pytest.mark.parametrize(
    "backend", ["channels_redis.pubsub.RedisPubSubChannelLayer", "channels_redis.core.RedisChannelLayer"]
)
async def test_the_stock_channels_layers_plug_in(ws_connect, alice, bob, settings, backend):
    """CHANNEL_LAYER_BACKEND may name a stock Channels layer instead (to
    compare them, docs/performance.md): events from async code and from
    synchronous code (on-commit hooks, the worker) reach every socket, and a
    close reaches the right one."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": backend,
            "CONFIG": {"hosts": [settings.REDIS.url], "prefix": f"{settings.REDIS_KEY_PREFIX}:stock"},
        }
    }
    channel_layers.backends.clear()
    try:
        one, two, other = await ws_connect(alice), await ws_connect(alice), await ws_connect(bob)
        await realtime.adeliver([alice.pk, bob.pk], realtime.frame_envelope({"type": "pong", "ref": "async"}))
        await sync_to_async(realtime.deliver)([alice.pk], realtime.frame_envelope({"type": "pong", "ref": "sync"}))
        for ws in (one, two):
            assert [(await ws.expect("pong"))["ref"] for _ in range(2)] == ["async", "sync"]
        assert (await other.expect("pong"))["ref"] == "async"
        await other.silent(0.3)
        await sync_to_async(realtime.deliver)([bob.pk], realtime.close_envelope(4401))
        assert await other.closed() == 4401
    finally:
        await get_channel_layer().flush()
        channel_layers.backends.clear()
