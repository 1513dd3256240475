"""Start a throwaway WebsocketChat stack for a benchmark and seed it.

Modes:
  embedded  one daphne process, SQLite, in-process bus, local fan-out
  kafka     daphne + message worker(s) on MariaDB, Redis and the Kafka broker

The benchmark talks to the stack only over HTTP/WebSocket; seeding uses the
ORM against the same database (creating accounts through the API would spend
most of the run hashing passwords).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_env(mode: str, run_id: str, *, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "KAFKA_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="chatsite.settings",
        # Production settings: DEBUG off (no query log, no debug cursor).
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-" + "x" * 20 + "abcdefghijklmnopqrstuvwxyz0123456789",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        FAST_PASSWORD_HASHER="1",
        LOG_LEVEL="INFO",
        SMS_BACKEND="log",
        LIMIT_MESSAGES_PER_S="100000",
        LIMIT_MESSAGES_BURST="100000",
        LIMIT_FRAMES_PER_S="100000",
        LIMIT_FRAMES_BURST="100000",
        LIMIT_WS_CONNECTS_PER_USER="100000",
        HEARTBEAT_S="600",
        VAR_DIR=str(ROOT / "var" / f"bench-{run_id}"),
    )
    if mode == "kafka":
        env.update(
            DATABASE_URL=os.environ.get("BENCH_DATABASE_URL", "mysql://root@127.0.0.1:3306/wsc_bench"),
            REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"),
            REDIS_KEY_PREFIX=f"bench{run_id}",
            KAFKA_BOOTSTRAP_SERVERS=os.environ.get("BENCH_KAFKA", "127.0.0.1:9092"),
            KAFKA_TOPIC_PREFIX=f"bench{run_id}",
            KAFKA_PARTITIONS="8",
            KAFKA_SESSION_TIMEOUT_MS="2000",
            KAFKA_HEARTBEAT_INTERVAL_MS="500",
        )
    env.update(extra or {})
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start") from None
            time.sleep(0.1)


@contextmanager
def stack(mode: str, *, workers: int = 1, server: str = "daphne"):
    """Yields (base_url, env). Tears everything down (and drops the bench data) after."""
    run_id = f"{int(time.time())}{os.getpid()}"
    env = bench_env(mode, run_id)
    var = Path(env["VAR_DIR"])
    var.mkdir(parents=True, exist_ok=True)
    if mode == "kafka":
        _recreate_mysql_database(env["DATABASE_URL"])
    manage(env, "migrate", "--noinput")
    procs: list[subprocess.Popen] = []
    logs = []
    try:
        if mode == "kafka":
            manage(env, "create_topics")
            for n in range(workers):
                log = open(var / f"worker{n}.log", "w")
                logs.append(log)
                procs.append(
                    subprocess.Popen(
                        [PY, "manage.py", "run_message_worker"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
                    )
                )
        port = free_port()
        log = open(var / "server.log", "w")
        logs.append(log)
        if server == "uvicorn":
            cmd = [
                PY,
                "-m",
                "uvicorn",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                "--ws-max-size",
                "1048576",
                "chatsite.asgi:application",
            ]
        else:
            cmd = [PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "chatsite.asgi:application"]
        server_proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append(server_proc)
        wait_port(port, server_proc)
        if mode == "kafka":
            _wait_for_log(var / "worker0.log", "assigned", 30)
        yield f"http://127.0.0.1:{port}", env, procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()
        if mode == "kafka":
            _drop_mysql_database(env["DATABASE_URL"])
        shutil.rmtree(var, ignore_errors=True)


def _wait_for_log(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path.name} never logged {text!r}")
        time.sleep(0.1)


def _mysql_args(url: str) -> tuple[list[str], str]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    args = [
        "mariadb",
        "-h",
        parts.hostname or "127.0.0.1",
        "-P",
        str(parts.port or 3306),
        "-u",
        parts.username or "root",
    ]
    if parts.password:
        args.append(f"-p{parts.password}")
    return args, parts.path.lstrip("/")


def _recreate_mysql_database(url: str) -> None:
    args, name = _mysql_args(url)
    subprocess.run(
        [
            *args,
            "-e",
            f"DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        ],
        check=True,
    )


def _drop_mysql_database(url: str) -> None:
    args, name = _mysql_args(url)
    subprocess.run([*args, "-e", f"DROP DATABASE IF EXISTS `{name}`"], check=False)


def seed_pairs(env: dict[str, str], pairs: int) -> list[dict]:
    """`pairs` pairs of contacts; returns [{"a": token, "b": token, "conversation": id}]."""
    code = (
        "import django, json, sys\n"
        "django.setup()\n"
        "from accounts.models import User\n"
        "from accounts.services import Client, _start_session\n"
        "from contacts.services import do_connect\n"
        "out = []\n"
        f"for n in range({pairs}):\n"
        "    a = User.objects.create_user(f'bench_a{n}', 'bench-password')\n"
        "    b = User.objects.create_user(f'bench_b{n}', 'bench-password')\n"
        "    contact = do_connect(user=a, other=b)\n"
        "    ta = _start_session(user=a, client=Client(ip='127.0.0.1', device='bench')).tokens.access\n"
        "    tb = _start_session(user=b, client=Client(ip='127.0.0.1', device='bench')).tokens.access\n"
        "    out.append({'a': ta, 'b': tb, 'conversation': str(contact.conversation.uuid)})\n"
        "json.dump(out, sys.stdout)\n"
    )
    import json

    result = subprocess.run([PY, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return json.loads(result.stdout)


def versions() -> str:
    import importlib.metadata as md

    names = ["django", "channels", "daphne", "redis", "confluent-kafka", "orjson", "websockets"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            pass
    try:
        import confluent_kafka

        found.append(f"librdkafka {confluent_kafka.libversion()[0]}")
    except Exception:
        pass
    found.append(f"python {sys.version.split()[0]}")
    return ", ".join(found)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
