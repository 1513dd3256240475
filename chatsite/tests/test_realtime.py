"""The real-time hub: per-user delivery, the many-recipient broadcast path, and
what a socket does when the fan-out cannot reach it."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from chatsite import realtime

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("broadcast_min", [2, 1000])
async def test_every_socket_of_every_recipient_gets_an_event_once(ws_connect, user_factory, settings, broadcast_min):
    settings.REALTIME_BROADCAST_MIN = broadcast_min
    users = [await sync_to_async(user_factory)() for _ in range(20)]
    sockets = [await ws_connect(u) for u in users] + [await ws_connect(users[0])]
    bystander = await ws_connect(await sync_to_async(user_factory)())
    await realtime.hub().adeliver([u.pk for u in users], realtime.frame_envelope({"type": "pong", "ref": "fanout"}))
    for ws in sockets:
        assert await ws.expect("pong") == {"type": "pong", "ref": "fanout"}
    await asyncio.gather(*(ws.silent(0.3) for ws in sockets + [bystander]))


@pytest.mark.parametrize("broadcast_min", [1, 1000])
async def test_split_envelopes_give_one_socket_its_own_frame(ws_connect, alice, bob, settings, broadcast_min):
    settings.REALTIME_BROADCAST_MIN = max(2, broadcast_min)
    one, two = await ws_connect(alice), await ws_connect(alice)
    target = realtime.hub().registry.sockets_of(alice.pk)[0].socket_id
    envelope = realtime.split_envelope(target, {"type": "pong", "ref": "own"}, {"type": "pong", "ref": "other"})
    # Delivered with bob too, so that the many-recipient path carries it when it is on.
    await realtime.hub().adeliver([alice.pk, bob.pk], envelope)
    refs = sorted([(await one.expect("pong"))["ref"], (await two.expect("pong"))["ref"]])
    assert refs == ["other", "own"]


def test_the_hub_sends_one_publish_for_many_recipients(settings):
    if settings.REALTIME_BACKEND != "redis":
        pytest.skip("the broadcast path is the Redis hub's")
    hub = realtime.RedisHub()

    class Pipe:
        def __init__(self):
            self.calls = []

        def publish(self, channel, data):
            self.calls.append((channel, data))

    settings.REALTIME_BROADCAST_MIN = 16
    pipe = Pipe()
    assert hub._queue(pipe, range(1, 101), b"Fx") == 1
    [(channel, data)] = pipe.calls
    assert channel == hub.broadcast_channel and data.startswith(b"M1,2,3,") and data.endswith(b"\nFx")
    pipe = Pipe()
    assert hub._queue(pipe, [7, 8], b"Fy") == 2
    assert sorted(c for c, _ in pipe.calls) == sorted([hub.channel(7), hub.channel(8)])
