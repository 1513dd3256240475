"""The loop that sends what is due (pushes, bots' events), and how a server
runs one while it serves."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from chatsite.sendloop import SendLoop, run_while_serving


def counting_loop(wake: threading.Event, steps: list) -> SendLoop:
    def step(pool):
        steps.append(time.monotonic())
        return {}

    return SendLoop(name="probe", step=step, concurrency=1, wake=wake, poll_s=30)


def probe_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "probe-sender" and t.is_alive()]


def test_a_wake_runs_a_round_at_once_and_stop_ends_the_thread():
    wake = threading.Event()
    steps: list = []
    loop = counting_loop(wake, steps).start()
    try:
        deadline = time.monotonic() + 5
        while not steps and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(steps) == 1  # the first round, then idle for poll_s
        wake.set()
        deadline = time.monotonic() + 5
        while len(steps) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(steps) == 2, "a wake did not run a round before the poll interval"
    finally:
        loop.stop()
    assert not loop.thread.is_alive()


@pytest.mark.parametrize("settle", [0, 0.2], ids=["stopped-while-starting", "stopped-while-serving"])
async def test_a_server_stopped_at_any_moment_leaves_no_loop_running(settings, settle):
    """A server's lifespan ends its loop however early it is stopped. The
    loop was once started in a thread the task awaited: cancelled during that
    await, the task never reached its `finally` and the loop ran on, unowned,
    claiming other work of the process (seen as tests' bot events sent by a
    stray sender)."""
    settings.BUS_BACKEND = "inprocess"
    wake = threading.Event()
    steps: list = []
    task = asyncio.create_task(run_while_serving(lambda: counting_loop(wake, steps)))
    await asyncio.sleep(0)  # the task runs up to its first await
    if settle:
        await asyncio.sleep(settle)
        assert probe_threads(), "the loop did not start while serving"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.3)  # time for a thread started late to show
    assert probe_threads() == []


async def test_with_a_broker_the_server_runs_no_loop(settings):
    """With Kafka a process of its own sends (the notifier, the bots worker)."""
    settings.BUS_BACKEND = "kafka"
    made = []
    await asyncio.wait_for(run_while_serving(lambda: made.append(1)), timeout=2)
    assert made == []
