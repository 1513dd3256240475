"""What a process loads as it starts: a command or a worker loads none of
what only some servers need (pypinyin's dictionaries, Twisted for daphne,
pywebpush for the notifier); a server loads pypinyin as it starts, off its
loop (chatsite.lifespan.warm_up), so the first contact list does not wait."""

from __future__ import annotations

import asyncio
import threading

from chatsite import lifespan
from chatsite.tests.test_settings import manage

HEAVY = ("pypinyin", "twisted", "daphne", "pywebpush", "aiohttp")


def test_a_command_loads_none_of_what_only_some_servers_need(tmp_path):
    probe = f"import sys; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = manage("shell", "-v", "0", "-c", probe, env={}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", result.stdout


async def test_a_server_warms_up_once_in_a_thread_of_its_own(monkeypatch):
    ran: list[str] = []
    done = threading.Event()

    def warm() -> None:
        ran.append(threading.current_thread().name)
        done.set()

    monkeypatch.setattr(lifespan, "_warm_ups", {"test": warm})
    monkeypatch.setattr(lifespan, "_warmed", False)
    monkeypatch.setattr(lifespan, "_tasks", {})  # this test's loop runs no background task
    try:
        await lifespan.ensure_started()
        await lifespan.ensure_started()
        assert await asyncio.to_thread(done.wait, 10)
        await asyncio.sleep(0.1)
        assert ran == ["warm-up"]
    finally:
        await lifespan.stop()


def test_the_contact_lists_warm_up_is_registered_and_files_names():
    from contacts import letters

    assert lifespan._warm_ups["pinyin"] is letters.warm
    letters.warm()
    assert letters.index_letter("张伟") == "Z" and letters.index_letter("Émile") == "E"
