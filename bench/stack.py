"""Start what a benchmark measures, seed it, tear it down.

Targets (the ladder of performance.md, cheapest first):
  ws-relay          a bare `websockets` relay of the same frames
  channels-pubsub   a bare Channels relay on RedisPubSubChannelLayer
  channels-core     a bare Channels relay on RedisChannelLayer
  embedded          the product: one process, SQLite, in-process bus
  kafka             the product: N server nodes + M message workers on
                    MariaDB, Redis and the Kafka broker

Seeding the product uses the ORM against its database (creating accounts
through the API would spend the run hashing passwords).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
sys.path.insert(0, str(ROOT))

from chatsite.serve import command as serve_command  # noqa: E402  (Django-free)
from notifications.vapid import new_private_key  # noqa: E402  (Django-free)

TARGETS = ("ws-relay", "channels-pubsub", "channels-core", "embedded", "kafka")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_env(mode: str, run_id: str, *, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "KAFKA_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="chatsite.settings",
        # Production settings (the defaults): DEBUG off, no query log, no debug cursor.
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-" + "x" * 20 + "abcdefghijklmnopqrstuvwxyz0123456789",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        FAST_PASSWORD_HASHER="1",
        LOG_LEVEL="INFO",
        SMS_BACKEND="memory",
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
            # Several processes: one push signing key for all of them.
            VAPID_PRIVATE_KEY=new_private_key(),
        )
    env.update(extra or {})
    # Settings to compare (`BENCH_SET="KAFKA_LINGER_MS=20 KAFKA_FETCH_WAIT_MAX_MS=25"`):
    # given to every process the target starts, after the defaults above.
    for pair in os.environ.get("BENCH_SET", "").split():
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"BENCH_SET wants NAME=VALUE pairs, not {pair!r}")
        env[name] = value
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
                raise RuntimeError(f"the server on port {port} did not start") from None
            time.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(quiet_share: float = 0.15, timeout: float = 90) -> float:
    """Wait until the whole box is quiet (busy below `quiet_share` of its
    CPUs over one second), so what seeding left running (InnoDB's purge and
    flushing after a bulk insert) is not counted against the requests that
    follow. Returns the last busy share; prints it when the box stayed busy."""

    def busy_idle() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values) - idle, idle

    deadline = time.monotonic() + timeout
    while True:
        busy0, idle0 = busy_idle()
        time.sleep(1)
        busy1, idle1 = busy_idle()
        share = (busy1 - busy0) / max(1, (busy1 - busy0) + (idle1 - idle0))
        if share < quiet_share:
            return share
        if time.monotonic() > deadline:
            print(f"note: the box stayed {share:.0%} busy before the measurement (another load on it?)")
            return share


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class Target:
    kind: str
    urls: list[str]  # ws://host:port/ws/ of each server node
    env: dict[str, str]
    servers: list[subprocess.Popen] = field(default_factory=list)
    workers: list[subprocess.Popen] = field(default_factory=list)
    notifiers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def product(self) -> bool:
        return self.kind in ("embedded", "kafka")

    def processes(self) -> dict[str, int]:
        names = {f"server{n}": p.pid for n, p in enumerate(self.servers)}
        names.update({f"worker{n}": p.pid for n, p in enumerate(self.workers)})
        names.update({f"notifier{n}": p.pid for n, p in enumerate(self.notifiers)})
        return names

    def seed_pairs(self, count: int) -> list[tuple[str, str, str]]:
        """`count` pairs of contacts: (sender token, conversation id, receiver token)."""
        if not self.product:
            return [(f"a{n}", f"b{n}", f"b{n}") for n in range(count)]
        code = (
            "import django, json, sys\n"
            "django.setup()\n"
            "from accounts.models import User\n"
            "from accounts.actions.sessions import Client, start_session\n"
            "from contacts.services import do_connect\n"
            "out = []\n"
            f"for n in range({count}):\n"
            "    a = User.objects.create_user(f'bench_a{n}', 'bench-password')\n"
            "    b = User.objects.create_user(f'bench_b{n}', 'bench-password')\n"
            "    contact = do_connect(user=a, other=b)\n"
            "    ta = start_session(user=a, client=Client(ip='127.0.0.1', device='bench')).tokens.access\n"
            "    tb = start_session(user=b, client=Client(ip='127.0.0.1', device='bench')).tokens.access\n"
            "    out.append((ta, str(contact.conversation.uuid), tb))\n"
            "json.dump(out, sys.stdout)\n"
        )
        return [tuple(x) for x in json.loads(self._django(code))]

    def seed_users(self, count: int) -> list[str]:
        """`count` users; returns an access token for each (a name for baselines)."""
        if not self.product:
            return [f"u{n}" for n in range(count)]
        code = (
            "import django, json, sys\n"
            "django.setup()\n"
            "from django.utils import timezone\n"
            "from datetime import timedelta\n"
            "from accounts.models import User, LoginSession\n"
            "from accounts import tokens\n"
            "from django.contrib.auth.hashers import make_password\n"
            "pw = make_password('bench-password')\n"
            f"users = User.objects.bulk_create([User(username=f'bench_u{{n}}', password=pw) for n in range({count})], batch_size=1000)\n"
            "users = list(User.objects.filter(username__startswith='bench_u').order_by('id'))\n"
            "now = timezone.now()\n"
            "sessions = [LoginSession(user=u, device='bench', created_at=now, last_seen_at=now, expires_at=now + timedelta(days=1)) for u in users]\n"
            "LoginSession.objects.bulk_create(sessions, batch_size=1000)\n"
            "sessions = list(LoginSession.objects.filter(user__in=users).select_related('user').order_by('id'))\n"
            "out = []\n"
            "for s in sessions:\n"
            "    pair = tokens.issue(s)\n"
            "    out.append(pair.access)\n"
            "LoginSession.objects.bulk_update([s for s in sessions], ['refresh_jti'], batch_size=1000)\n"
            "json.dump(out, sys.stdout)\n"
        )
        return json.loads(self._django(code))

    def seed_group(self, members: int) -> tuple[str, list[str]]:
        """A group of `members` users (all contacts of the first, its owner):
        (group conversation id, tokens, owner's first)."""
        if not self.product:
            raise RuntimeError("groups exist only in the product")
        code = (
            "import django, json, sys\n"
            "django.setup()\n"
            "from django.db import transaction\n"
            "from accounts.models import User\n"
            "from accounts.actions.sessions import Client, start_session\n"
            "from contacts.services import do_connect\n"
            "from groups.services import do_create_group\n"
            "owner = User.objects.create_user('bench_owner', 'bench-password')\n"
            "users = []\n"
            f"for n in range({members - 1}):\n"
            "    u = User.objects.create_user(f'bench_m{n}', 'bench-password')\n"
            "    do_connect(user=owner, other=u)\n"
            "    users.append(u)\n"
            "group = do_create_group(owner=owner, name='bench', members=[str(u.uuid) for u in users])\n"
            "tokens = [start_session(user=u, client=Client(ip='127.0.0.1', device='bench')).tokens.access for u in [owner, *users]]\n"
            "json.dump([str(group.conversation.uuid), tokens], sys.stdout)\n"
        )
        conversation, tokens = json.loads(self._django(code))
        return conversation, tokens

    def _django(self, code: str) -> str:
        env = dict(self.env, GROUP_MAX_MEMBERS="100000", LOG_LEVEL="WARNING")
        return subprocess.run([PY, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout


@contextmanager
def start(
    kind: str,
    *,
    nodes: int = 1,
    workers: int = 1,
    server: str = "uvicorn",
    extra_env: dict | None = None,
    notifiers: int = 0,
):
    """Start a target; yields a Target. Everything it started is stopped (and
    the product's bench database dropped) afterwards."""
    if kind not in TARGETS:
        raise ValueError(f"unknown target {kind}")
    run_id = f"{int(time.time())}{os.getpid()}"
    mode = "kafka" if kind == "kafka" else "embedded"
    env = bench_env(mode, run_id, extra=extra_env)
    var = Path(env["VAR_DIR"])
    var.mkdir(parents=True, exist_ok=True)
    logs = []
    target = Target(kind=kind, urls=[], env=env)

    def spawn(cmd: list[str], name: str, **kw) -> subprocess.Popen:
        log = open(var / f"{name}.log", "w")
        logs.append(log)
        return subprocess.Popen(cmd, cwd=ROOT, env=kw.get("env", env), stdout=log, stderr=subprocess.STDOUT)

    try:
        if kind == "ws-relay":
            port = free_port()
            proc = spawn([PY, "bench/baselines/ws_relay.py", "--port", str(port)], "relay")
            target.servers.append(proc)
            wait_port(port, proc)
            target.urls.append(f"ws://127.0.0.1:{port}/ws/")
        elif kind.startswith("channels-"):
            relay_env = dict(
                env,
                DJANGO_SETTINGS_MODULE="bench.baselines.channels_relay",
                BENCH_LAYER=kind.split("-", 1)[1],
                REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8"),
                PYTHONPATH=str(ROOT),
            )
            # Several relay nodes share their groups through the layer, as the product's nodes do.
            relay_env["BENCH_RELAY_PREFIX"] = f"benchrelay{os.getpid()}t{time.monotonic_ns()}"
            for n in range(nodes):
                port = free_port()
                proc = spawn(
                    _server_cmd(server, port, "bench.baselines.channels_relay:application"),
                    f"relay{n}" if nodes > 1 else "relay",
                    env=relay_env,
                )
                target.servers.append(proc)
                wait_port(port, proc)
                target.urls.append(f"ws://127.0.0.1:{port}/ws/")
        else:
            if mode == "kafka":
                _recreate_mysql_database(env["DATABASE_URL"])
            manage(env, "migrate", "--noinput")
            if mode == "kafka":
                manage(env, "create_topics")
                for n in range(workers):
                    target.workers.append(spawn([PY, "manage.py", "run_message_worker"], f"worker{n}"))
                for n in range(notifiers):
                    target.notifiers.append(spawn([PY, "manage.py", "run_notifier"], f"notifier{n}"))
            for n in range(nodes if mode == "kafka" else 1):
                port = free_port()
                node_env = dict(env, NODE_ID=f"bench-node{n}")
                cmd = serve_command(server, "127.0.0.1", port)  # the product as `make run` serves it
                if os.environ.get("BENCH_PROFILE_SERVER") and n == 0:
                    # A deterministic profile of node 0 (slower: for finding hot spots, not for figures).
                    cmd = [PY, "-m", "cProfile", "-o", os.environ["BENCH_PROFILE_SERVER"], *cmd[1:]]
                proc = spawn(cmd, f"server{n}", env=node_env)
                target.servers.append(proc)
                wait_port(port, proc)
                target.urls.append(f"ws://127.0.0.1:{port}/ws/")
            for n in range(len(target.workers)):
                _wait_for_log(var / f"worker{n}.log", "assigned", 30)
            for n in range(len(target.notifiers)):
                _wait_for_log(var / f"notifier{n}.log", "assigned", 30)
        yield target
    finally:
        for proc in target.servers + target.workers + target.notifiers:
            proc.terminate()
        for proc in target.servers + target.workers + target.notifiers:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()
        if os.environ.get("BENCH_KEEP"):
            # The processes' logs and the databases stay for a look.
            print(f"kept {var} and the database of {env.get('DATABASE_URL', 'the run')}", file=sys.stderr)
        else:
            if mode == "kafka" and kind == "kafka":
                _drop_mysql_database(env["DATABASE_URL"])
                _drop_topics(env["KAFKA_BOOTSTRAP_SERVERS"], env["KAFKA_TOPIC_PREFIX"])
            shutil.rmtree(var, ignore_errors=True)


def _server_cmd(server: str, port: int, app: str) -> list[str]:
    """A stock server for the baselines (the product uses chatsite.serve)."""
    if server == "uvicorn":
        return [
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
            app,
        ]
    return [PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]


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


def _drop_topics(bootstrap: str, prefix: str) -> None:
    """Delete the run's topics. Tansu's memory engine keeps every topic it
    ever had in one metadata object and never drops records, and its fetches
    slow down with both: after a dozen runs it cost 1.6-2 times as much
    per message as a fresh one (docs/performance.md)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        names = [t for t in admin.list_topics(timeout=10).topics if t.startswith(f"{prefix}.")]
        for future in admin.delete_topics(names, operation_timeout=10).values() if names else ():
            future.result(timeout=15)
    except Exception as exc:  # a bench run's result stands without it
        print(f"could not delete the run's topics: {exc}", file=sys.stderr)


def versions() -> str:
    import importlib.metadata as md

    found = []
    for name in [
        "django",
        "channels",
        "channels-redis",
        "daphne",
        "uvicorn",
        "redis",
        "confluent-kafka",
        "orjson",
        "websockets",
    ]:
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


def infra_pids() -> dict[str, int]:
    """The shared services on this box (their CPU counts against the same 2 cores)."""
    found = {}
    for name, pattern in (("mariadb", "mariadbd"), ("redis", "redis-server"), ("broker", "tansu")):
        out = subprocess.run(["pgrep", "-o", "-f", pattern], capture_output=True, text=True).stdout.split()
        if out:
            found[name] = int(out[0])
    return found
