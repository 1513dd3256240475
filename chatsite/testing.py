"""Helpers for tests: stopping the per-loop background tasks at the end of a test."""

from __future__ import annotations

import asyncio
import contextlib


async def shutdown_loop_tasks() -> None:
    """Cancel the gateway's sweeper and the hub's subscriber for the running loop."""
    from chatsite import presence, realtime
    from chatsite.gateway import consumer

    loop = asyncio.get_running_loop()
    tasks = []
    sweeper = consumer._sweepers.pop(loop, None)
    if sweeper is not None:
        tasks.append(sweeper.task)
    refresher = presence._refreshers.pop(loop, None)
    if refresher is not None:
        tasks.append(refresher.task)
    hub = realtime.hub()
    subscribers = getattr(hub, "_subscribers", None)
    if subscribers is not None:
        sub = subscribers.pop(loop, None)
        if sub is not None:
            tasks.append(sub.task)
    try:
        from calls.ws_handlers import stop_sweeper

        await stop_sweeper()
    except ImportError:
        pass
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


class WorkerProcess:
    """A real `manage.py run_message_worker` process for fault tests."""

    def __init__(self, *, env: dict[str, str], log_path) -> None:
        import subprocess
        import sys
        from pathlib import Path

        self.log_path = Path(log_path)
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_message_worker"],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for(self, text: str, timeout: float = 30.0) -> None:
        import time

        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker never logged {text!r}:\n{self.log()}")
            time.sleep(0.05)

    def kill(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> int:
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode


def worker_env(*, topic_prefix: str, group: str) -> dict[str, str]:
    """The environment of a worker process sharing this test's database and Redis."""
    import os

    from django.db import connection

    db = connection.settings_dict
    env = dict(os.environ)
    env.pop("DATABASE_TEST_NAME", None)
    env.update(
        DATABASE_URL=f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        KAFKA_TOPIC_PREFIX=topic_prefix,
        KAFKA_CONSUMER_GROUP=group,
        LOG_LEVEL="INFO",
    )
    return env
