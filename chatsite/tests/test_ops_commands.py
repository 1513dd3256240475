"""The operator's commands when something is wrong: redrive_dead_letters with
records that fail again and under Ctrl-C, status with a service down, the
workers' metrics port, create_topics on an existing topic, bad arguments."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from chatsite.tests.test_operations import _drain, _produce, _record, own_topics  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


class _InterruptAtFirstRecord(io.StringIO):
    """The command's stdout: Ctrl-C (SIGINT to this process) as the first
    record is listed, so while the command is in the middle of its loop."""

    def write(self, text: str) -> int:
        if "@" in text and "@" not in self.getvalue():
            os.kill(os.getpid(), signal.SIGINT)
        return super().write(text)


# --------------------------------------------------------------------------- redrive_dead_letters


@pytest.mark.kafka
@pytest.mark.usefixtures("own_topics")
def test_redrive_stops_at_the_end_it_saw_while_the_records_fail_again():
    """Three undecodable records, dead-lettered by a worker that keeps
    running: each re-sent record is dead-lettered again at once, after the end
    the run noted at its start, so the run re-sends each once and ends."""
    from chatsite.bus.kafka import full_topic
    from chatsite.bus.worker import Worker

    _produce(full_topic("messages"), [(f"k{n}".encode(), b"not json") for n in range(3)])
    worker = Worker()
    stopping = threading.Event()

    def consume() -> None:
        while not stopping.is_set():
            worker.process_one(timeout=0.2)

    try:
        _drain(worker, until=lambda: worker.stats["dead_lettered"] == 3)
        thread = threading.Thread(target=consume)
        thread.start()
        out = io.StringIO()
        # --limit only bounds the run that would otherwise go round forever.
        call_command("redrive_dead_letters", "--limit", "30", stdout=out)
        assert "re-sent 3 records" in out.getvalue()
        deadline = time.monotonic() + 20
        while worker.stats["dead_lettered"] < 6:
            assert time.monotonic() < deadline, "the re-sent records never came back"
            time.sleep(0.1)
    finally:
        stopping.set()
        if "thread" in locals():
            thread.join()
        worker.close()
    out = io.StringIO()
    call_command("redrive_dead_letters", "--dry-run", stdout=out)
    assert "listed 3 records" in out.getvalue(), "those that failed again wait for the next run"


@pytest.mark.kafka
@pytest.mark.usefixtures("own_topics")
def test_ctrl_c_stops_redrive_after_the_record_in_hand_and_keeps_its_progress(alice, bob):
    from chatsite.bus.kafka import dead_letter_topic
    from contacts.models import Contact

    conversation = Contact.objects.get(owner=alice, other=bob).conversation
    key = str(conversation.uuid).encode()
    _produce(dead_letter_topic("messages"), [(key, _record(alice, conversation, str(uuid.uuid4()))) for _ in range(3)])
    before = signal.getsignal(signal.SIGINT)
    out = _InterruptAtFirstRecord()
    try:
        call_command("redrive_dead_letters", stdout=out)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C ended redrive_dead_letters with a KeyboardInterrupt")
    assert "re-sent 1 records" in out.getvalue() and "interrupted" in out.getvalue()
    assert signal.getsignal(signal.SIGINT) is before, "Ctrl-C is given back"
    out = io.StringIO()
    call_command("redrive_dead_letters", stdout=out)
    assert "re-sent 2 records" in out.getvalue(), "a re-run continues after what was re-sent"


def test_redrive_refuses_a_topic_that_does_not_exist(settings):
    settings.BUS_BACKEND = "kafka"
    started = time.monotonic()
    with pytest.raises(CommandError, match="no topic 'bogus': one of .*messages"):
        call_command("redrive_dead_letters", "--topic", "bogus", stdout=io.StringIO())
    assert time.monotonic() - started < 2


# --------------------------------------------------------------------------- status


@pytest.mark.kafka
@pytest.mark.usefixtures("own_topics")
def test_status_counts_the_dead_letters_waiting_not_those_redriven():
    from chatsite.bus.kafka import dead_letter_topic

    name = dead_letter_topic("messages")
    for _ in range(3):
        # One at a time, as the worker dead-letters (Tansu reports the end of
        # a partition as its last batch's first offset + 1).
        _produce(name, [(b"k", b"not json")])
    out = io.StringIO()
    call_command("status", stdout=out)
    assert f"dead letters in {name}: 3 waiting" in out.getvalue()
    call_command("redrive_dead_letters", "--limit", "2", stdout=io.StringIO())
    out = io.StringIO()
    call_command("status", stdout=out)
    assert f"dead letters in {name}: 1 waiting" in out.getvalue()


@pytest.mark.kafka
def test_status_reports_a_broker_that_does_not_answer_and_goes_on(settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:9399"
    out = io.StringIO()
    with pytest.raises(CommandError, match="unavailable: broker") as raised:
        call_command("status", stdout=out)
    assert raised.value.returncode == 1
    text = out.getvalue()
    assert "broker: unavailable at 127.0.0.1:9399" in text
    assert "users online:" in text and "consumer lag (group" in text, "the rest is still reported"


@pytest.mark.redis
def test_status_reports_redis_that_does_not_answer_and_goes_on(settings):
    from chatsite import redis as rds
    from contacts import presence

    redis_url, settings.REDIS_URL = settings.REDIS_URL, "redis://127.0.0.1:6399/0"
    rds.reset()
    presence.reset()
    try:
        out = io.StringIO()
        with pytest.raises(CommandError, match="unavailable: redis$"):
            call_command("status", stdout=out)
    finally:
        settings.REDIS_URL = redis_url
        rds.reset()
        presence.reset()
    text = out.getvalue()
    assert "redis: unavailable" in text and "search:" in text
    if settings.BUS_BACKEND == "kafka":
        assert "consumer lag: unknown" in text and "dead letters in" in text


# --------------------------------------------------------------------------- the workers' start


def _busy_port() -> socket.socket:
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    return held


@pytest.mark.parametrize(
    "command", ["run_message_worker", "run_notifier", "run_indexer", "run_bot_worker", "run_assistant"]
)
def test_every_worker_serves_metrics_on_worker_metrics_port_and_names_a_port_in_use(command, settings):
    settings.BUS_BACKEND = "kafka"
    settings.ASSISTANT = True
    held = _busy_port()
    try:
        settings.WORKER_METRICS_PORT = held.getsockname()[1]
        with pytest.raises(CommandError, match=f"cannot serve metrics on 127.0.0.1:{held.getsockname()[1]}"):
            call_command(command, stdout=io.StringIO())
    finally:
        held.close()


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
@pytest.mark.parametrize("command", ["run_message_worker", "run_indexer", "run_assistant"])
def test_a_bad_metrics_port_is_refused(command, port, settings):
    settings.BUS_BACKEND = "kafka"
    with pytest.raises(CommandError, match="--metrics-port"):
        call_command(command, f"--metrics-port={port}", stdout=io.StringIO())


@pytest.mark.kafka
@pytest.mark.parametrize("command", ["run_message_worker", "run_notifier"])
def test_a_worker_started_without_a_broker_says_so(command, settings):
    from chatsite.bus import kafka

    settings.KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:9399"
    kafka._topics_ready.clear()
    try:
        with pytest.raises(CommandError, match="the broker at 127.0.0.1:9399 did not answer"):
            call_command(command, stdout=io.StringIO())
    finally:
        kafka._topics_ready.clear()


def test_run_assistant_help_and_a_malformed_omp_num_threads(settings, monkeypatch):
    settings.BUS_BACKEND = "kafka"
    settings.ASSISTANT = True
    monkeypatch.setenv("OMP_NUM_THREADS", "abc")
    # --help prints and exits before anything else (argparse's SystemExit).
    with pytest.raises(SystemExit) as exited:
        call_command("run_assistant", "--help", stdout=io.StringIO())
    assert exited.value.code == 0
    with pytest.raises(CommandError, match="OMP_NUM_THREADS must be a whole number of cores"):
        call_command("run_assistant", stdout=io.StringIO())


# --------------------------------------------------------------------------- create_topics


@pytest.mark.kafka
@pytest.mark.usefixtures("own_topics")
def test_create_topics_prints_the_partitions_the_broker_has(settings):
    from confluent_kafka.admin import AdminClient, NewTopic

    from chatsite.bus import kafka

    # A prefix whose messages topic already exists with 2 partitions.
    settings.KAFKA_TOPIC_PREFIX = f"{settings.KAFKA_TOPIC_PREFIX}-x"
    kafka._topics_ready.clear()
    admin = AdminClient(kafka.client_config())
    for future in admin.create_topics(
        [NewTopic(kafka.full_topic("messages"), num_partitions=2, replication_factor=settings.KAFKA_REPLICATION_FACTOR)]
    ).values():
        future.result(timeout=10)
    settings.KAFKA_PARTITIONS = 4
    out, err = io.StringIO(), io.StringIO()
    call_command("create_topics", stdout=out, stderr=err)
    name = kafka.full_topic("messages")
    assert f"ready: {name} (2 partitions)" in out.getvalue()
    assert f"warning: {name} has 2 partitions, not KAFKA_PARTITIONS=4" in err.getvalue()
    assert f"ready: {kafka.full_topic('index')} (4 partitions)" in out.getvalue()
    kafka._topics_ready.clear()


# --------------------------------------------------------------------------- settings


@pytest.mark.one_config
@pytest.mark.parametrize("value", ["nope", "10.0.0.0/33", "127.0.0.1,, fe80::zz"])
def test_a_malformed_metrics_allowed_ips_stops_start_up_naming_it(value, tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "KAFKA_", "DJANGO_", "FAST_PASSWORD", "METRICS_"))
    }
    env.update(VAR_DIR=str(tmp_path), LOG_LEVEL="WARNING", METRICS_ALLOWED_IPS=value)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "METRICS_ALLOWED_IPS" in result.stderr


def test_metrics_allowed_ips_still_takes_addresses_and_networks(client, settings):
    settings.DEBUG = False
    settings.METRICS_TOKEN = None
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "127.0.0.1/32"]
    assert client.get("/metrics").status_code == 200
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get("/metrics").status_code == 404
