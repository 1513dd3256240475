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


# --------------------------------------------------------------------------- the database thread


async def test_calls_from_the_loop_run_on_one_thread_in_order_with_the_callers_context():
    """Each call sees the language and the request id of the code that made
    it, off the loop's thread, on the same thread every time, in the order the
    calls were made."""
    import asyncio
    import threading

    from django.utils import translation

    from chatsite.db import run_in_db_thread
    from chatsite.logging import request_id_var

    seen: list[tuple[int, int, str, str]] = []

    def note(n: int) -> int:
        seen.append((n, threading.get_ident(), translation.get_language(), request_id_var.get()))
        return n * 10

    token = request_id_var.set("req-42")
    try:
        with translation.override("zh-hans"):
            results = await asyncio.gather(*(run_in_db_thread(note, n=n) for n in range(20)))
    finally:
        request_id_var.reset(token)
    assert results == [n * 10 for n in range(20)]
    assert [n for n, *_ in seen] == list(range(20))
    threads = {ident for _, ident, _, _ in seen}
    assert len(threads) == 1 and threading.get_ident() not in threads
    assert {(lang, rid) for _, _, lang, rid in seen} == {("zh-hans", "req-42")}


async def test_results_that_are_ready_together_wake_the_loop_once(monkeypatch):
    """Fifty calls finished while the loop was busy come back in one wake-up
    of the loop (asgiref's sync_to_async pays one per call)."""
    import asyncio
    import time

    from chatsite import db

    wakeups: list[int] = []
    handoff = db._the_database_thread()._handoff
    real_run = handoff.run_queued

    def counting_run(loop):
        wakeups.append(1)
        real_run(loop)

    monkeypatch.setattr(handoff, "run_queued", counting_run)
    calls = [asyncio.ensure_future(db.run_in_db_thread(lambda n: n + 1, n=n)) for n in range(50)]
    await asyncio.sleep(0)  # each task hands its call to the thread
    time.sleep(0.5)  # noqa: ASYNC251 (the loop kept busy on purpose: the thread finishes them all meanwhile)
    assert await asyncio.gather(*calls) == [n + 1 for n in range(50)]
    assert wakeups == [1]


async def test_an_error_in_a_call_reaches_its_caller_and_the_thread_goes_on():
    from chatsite.db import run_in_db_thread

    def fail(message: str):
        raise ValueError(message)

    with pytest.raises(ValueError, match="no such thing"):
        await run_in_db_thread(fail, message="no such thing")
    with pytest.raises(RuntimeError):
        await run_in_db_thread(lambda: next(iter(())))  # StopIteration cannot be set on a future
    assert await run_in_db_thread(lambda x: x * 2, x=21) == 42


async def test_a_call_whose_caller_gave_up_before_it_began_is_not_run():
    import asyncio
    import threading

    from chatsite.db import run_in_db_thread

    gate = threading.Event()
    ran: list[str] = []
    first = asyncio.ensure_future(run_in_db_thread(lambda: gate.wait(5) and ran.append("first")))
    second = asyncio.ensure_future(run_in_db_thread(lambda: ran.append("second")))
    await asyncio.sleep(0.05)  # the thread is in the first call, the second waits behind it
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    gate.set()
    await first
    assert await run_in_db_thread(lambda: list(ran)) == ["first"]


async def test_async_to_sync_in_a_call_runs_on_the_callers_loop():
    """Sync code in a call may reach async code (a channel layer without a
    sync API) with async_to_sync: it runs on the loop that made the call."""
    import asyncio

    from asgiref.sync import async_to_sync

    from chatsite.db import run_in_db_thread

    async def which_loop():
        return asyncio.get_running_loop()

    loop = await run_in_db_thread(lambda: async_to_sync(which_loop)())
    assert loop is asyncio.get_running_loop()


def test_under_a_synchronous_caller_calls_run_in_its_thread():
    """A test (or an HTTP lane) calling async code with async_to_sync waits
    in its own thread: database calls run there, in its transaction, as
    asgiref's thread-sensitive calls do."""
    import threading

    from asgiref.sync import async_to_sync

    from chatsite.db import run_in_db_thread

    assert async_to_sync(run_in_db_thread)(threading.get_ident) == threading.get_ident()


async def test_a_call_that_runs_a_loop_of_its_own_can_make_database_calls_in_it():
    """asyncio.run inside a call, awaiting another call: the thread is busy
    with the outer one, so the inner one runs in place instead of waiting for
    it for ever."""
    import asyncio

    from chatsite.db import run_in_db_thread

    async def inner() -> int:
        return await run_in_db_thread(lambda: 7)

    assert await asyncio.wait_for(run_in_db_thread(lambda: asyncio.run(inner())), 10) == 7
    assert await run_in_db_thread(lambda: 8) == 8  # and the thread goes on


async def test_at_exit_the_thread_finishes_the_calls_it_has():
    """A socket's last writes (presence, endpoints released) queued as the
    process ends still run: the thread is drained at exit, not cut off."""
    import asyncio
    import threading

    from chatsite.db import _DatabaseThread

    thread = _DatabaseThread()
    gate = threading.Event()
    done: list[int] = []
    loop = asyncio.get_running_loop()
    futures = [thread.submit(loop, lambda: gate.wait(5) and done.append(1), {})]
    futures += [thread.submit(loop, lambda n: done.append(n), {"n": n}) for n in (2, 3)]
    threading.Timer(0.2, gate.set).start()
    await asyncio.to_thread(thread.drain)  # what atexit calls
    assert done == [1, 2, 3]
    assert not thread.alive()
    await asyncio.gather(*futures)
