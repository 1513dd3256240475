"""`make run` (scripts/run) stops on Ctrl-C quietly, with nothing left running.

Ctrl-C in a terminal sends SIGINT to the whole foreground process group:
make, the script and everything it started. The server often finishes first
(exit 0), before the script's own trap runs; that is still a requested stop,
not a crash to report ("server exited with status 0; stopping the others",
and make's "Error 1" after it)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.harness import free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.one_config, pytest.mark.timeout(150)]


def _serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory) -> Path:
    """One VAR_DIR for the module's runs: the first migrates a fresh
    database, as a new user's first `make run` does; the others find it done."""
    return tmp_path_factory.mktemp("make-run") / "var"


def _stop_make_run(var_dir: Path, stop) -> tuple[int, str, int]:
    """Start `make run` (embedded) in a session of its own (its process group
    is what a terminal's Ctrl-C signals), call stop(make's pid, the server's
    port) once it serves, and return make's status and output, and its group."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    env.update(VAR_DIR=str(var_dir), PORT=str(port), HOST="127.0.0.1", SMS_BACKEND="memory")
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _serving(port):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "make run did not start serving"
            time.sleep(0.5)
        stop(proc.pid, port)
        status = proc.wait(30)
        output = proc.stdout.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not _serving(port)
    leftover = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert leftover == [], f"still running: {leftover}\n{output}"
    return status, output, proc.pid


def test_ctrl_c_stops_everything_quietly(var_dir):
    status, output, _ = _stop_make_run(var_dir, lambda group, port: os.killpg(group, signal.SIGINT))
    # make itself ends as Ctrl-C ends any program: by the signal (the shell
    # shows 130), once its recipe has stopped.
    assert status in (0, -signal.SIGINT), output
    assert "exited with status" not in output and "Error" not in output, output


def test_a_server_that_stops_first_is_a_requested_stop(var_dir):
    """What the script sees when the server wins the race to Ctrl-C: the
    server exits 0 before the script's trap runs. Everything stops, and
    make run ends with 0 and nothing alarming."""

    def stop_the_server_alone(group, port):
        server = subprocess.run(
            ["pgrep", "-g", str(group), "-f", f"chatsite.serve .*--port {port}"], capture_output=True, text=True
        ).stdout.split()
        assert len(server) == 1, server
        os.kill(int(server[0]), signal.SIGINT)

    status, output, _ = _stop_make_run(var_dir, stop_the_server_alone)
    assert status == 0, output
    assert "exited with status" not in output and "Error" not in output, output
