"""Database calls from the event loop (chatsite.db) as the gateway makes them."""

from __future__ import annotations

import time

import pytest
from django.db import connection, connections

from chatsite.db import call_with_reconnect

pytestmark = pytest.mark.django_db(transaction=True)


def _connection_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "mysql", reason="needs MariaDB (the real-services run)")
def test_a_connection_the_server_dropped_is_replaced_and_the_call_retried():
    old = _connection_id()
    # No upkeep (and so no health check) before the call: the retry must do it.
    connection.wsc_next_upkeep = time.monotonic() + 3600
    killer = connections.create_connection("default")
    try:
        with killer.cursor() as cursor:
            cursor.execute(f"KILL CONNECTION {int(old)}")
    finally:
        killer.close()
    try:
        new = call_with_reconnect(_connection_id)
    finally:
        connection.wsc_next_upkeep = 0.0
    assert new != old


async def test_frames_skip_channels_per_message_connection_upkeep(ws_connect, alice, monkeypatch):
    """Channels' consumers run close_old_connections() in the database thread
    before every ASGI message: a thread hop per frame, and a re-armed health
    check, so the frame's first query pings MySQL. (Its test communicator turns
    that function into a no-op, so count the calls of its async wrapper.)"""
    import channels.consumer

    hops: list[int] = []
    real = channels.consumer.aclose_old_connections

    async def counting():
        hops.append(1)
        await real()

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counting)
    ws = await ws_connect(alice)
    for n in range(20):
        await ws.send({"type": "sync", "cursors": {}, "ref": f"s{n}"})
        done = await ws.expect("sync.done")
        assert done["ref"] == f"s{n}"
    assert hops == []


@pytest.mark.skipif(connection.vendor != "mysql", reason="needs MariaDB (the real-services run)")
def test_a_write_whose_connection_dies_at_commit_runs_once_and_says_unavailable(alice, bob, monkeypatch):
    """The COMMIT reaches the server, then the connection dies before its answer
    (another session kills it). Retrying would store the system message twice;
    the call reports `unavailable` and the message is there once."""
    from chatsite.errors import Unavailable
    from contacts.models import Contact
    from conversations.models import Message
    from conversations.services import post_system_message

    conversation = Contact.objects.get(owner=alice, other=bob).conversation
    before = Message.objects.filter(conversation=conversation).count()
    wrapper = connections["default"]
    real_commit = wrapper._commit
    killed = []

    def commit_then_die():
        real_commit()
        if not killed:
            killed.append(wrapper.connection.thread_id())
            killer = connections.create_connection("default")
            try:
                with killer.cursor() as cursor:
                    cursor.execute(f"KILL CONNECTION {int(killed[0])}")
            finally:
                killer.close()
            with wrapper.wrap_database_errors:
                wrapper.connection.ping()  # the dead connection's error, as the COMMIT's answer would meet it

    def write():
        from django.db import transaction

        with transaction.atomic():
            post_system_message(conversation=conversation, event="recall", actor=alice)

    monkeypatch.setattr(wrapper, "_commit", commit_then_die)
    connection.wsc_next_upkeep = time.monotonic() + 3600
    try:
        with pytest.raises(Unavailable):
            call_with_reconnect(write)
    finally:
        connection.wsc_next_upkeep = 0.0
        monkeypatch.undo()
        connection.close()
    assert killed
    assert Message.objects.filter(conversation=conversation).count() == before + 1
