"""Operations: /metrics, the worker's dead-letter topic and lag, status and re-drive commands."""

from __future__ import annotations

import io
import time
import uuid

import pytest
from django.core.management import call_command

from conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


def test_metrics_move_when_traffic_flows(api, client):
    before = client.get("/metrics").content.decode()
    api.get("/api/v1/me")
    after = client.get("/metrics")
    assert after.status_code == 200 and after["Content-Type"].startswith("text/plain")
    text = after.content.decode()
    line = 'wsc_http_requests_total{method="GET",route="api/v1/me",status="200"}'
    assert line in text
    value = float(text.split(line)[1].split()[0])
    previous = float(before.split(line)[1].split()[0]) if line in before else 0.0
    assert value == previous + 1
    assert "wsc_http_request_seconds_bucket" in text and "wsc_websockets_open" in text


def test_metrics_are_protected_in_production(client, settings):
    settings.DEBUG = False
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    settings.METRICS_ALLOWED_IPS = []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token").status_code == 200
    settings.METRICS_TOKEN = None
    settings.METRICS_ALLOWED_IPS = ["127.0.0.0/8"]
    assert client.get("/metrics").status_code == 200


async def test_websocket_metrics(ws_connect, alice):
    from chatsite import metrics

    def value(name, **labels):
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    opened, pings = value("wsc_websockets_open"), value("wsc_frames_in_total", type="ping")
    ws = await ws_connect(alice)
    assert value("wsc_websockets_open") == opened + 1
    await ws.send({"type": "ping"})
    await ws.expect("pong")
    assert value("wsc_frames_in_total", type="ping") == pings + 1
    await ws.close()


def test_an_unexpected_failure_is_the_json_error_shape_under_the_api(alice, api_for, monkeypatch):
    """A bug still answers API clients with the one error shape (no HTML page), and pages with Django's."""
    from django.test import Client
    from rest_framework.test import APIClient

    from accounts import selectors

    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(selectors, "list_live_sessions", broken)
    api = APIClient(raise_request_exception=False)
    api.credentials(HTTP_AUTHORIZATION=api_for(alice)._credentials["HTTP_AUTHORIZATION"])
    r = api.get("/api/v1/me/sessions")
    assert r.status_code == 500
    assert r["Content-Type"] == "application/json"
    assert r.json() == {
        "error": {"code": "unavailable", "message": "Something went wrong on the server; try again later."}
    }
    assert "frame-ancestors 'none'" in r["Content-Security-Policy"]
    monkeypatch.setattr("web.views.render", lambda *a, **k: broken())
    page = Client(raise_request_exception=False).get("/login")
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def test_readyz_names_a_failing_service(client, settings):
    assert client.get("/readyz").status_code == 200
    settings.DATABASES["default"]["HOST"] = settings.DATABASES["default"].get("HOST")  # unchanged
    from chatsite import health

    original = health._check_database

    def broken():
        raise OSError("connection refused")

    health._check_database = broken
    try:
        r = client.get("/readyz")
    finally:
        health._check_database = original
    assert r.status_code == 503 and r.json()["database"] == "unavailable"


# --------------------------------------------------------------------------- Kafka


@pytest.fixture
def own_topics(settings):
    from chatsite import bus
    from chatsite.bus import kafka

    settings.KAFKA_TOPIC_PREFIX = f"{settings.KAFKA_TOPIC_PREFIX}-{uuid.uuid4().hex[:8]}"
    settings.KAFKA_CONSUMER_GROUP = f"{settings.KAFKA_TOPIC_PREFIX}-g"
    bus.reset_bus()
    kafka._topics_ready.clear()
    kafka.ensure_topics(bus.topics())
    yield settings.KAFKA_TOPIC_PREFIX
    bus.reset_bus()
    kafka._topics_ready.clear()


def _produce(topic: str, records: list[tuple[bytes, bytes]]) -> None:
    from confluent_kafka import Producer

    from chatsite.bus.kafka import client_config

    producer = Producer({**client_config(), "acks": "all"})
    for key, value in records:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(10) == 0


def _drain(worker, *, until, timeout=30.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "the worker never got there"
        worker.process_one(timeout=0.5)


def _record(alice, conversation, cmid: str) -> bytes:
    from messaging.actions.send import SendDraft

    return SendDraft(
        conversation_id=conversation.pk,
        conversation_uuid=str(conversation.uuid),
        sender_id=alice.pk,
        kind="text",
        text="hello",
        file_id=None,
        client_msg_id=cmid,
    ).record(socket_id=None, ref=None)


@pytest.mark.kafka
def test_poison_records_go_to_the_dead_letter_topic_and_the_partition_moves_on(own_topics, alice, bob):
    from confluent_kafka import Consumer, TopicPartition

    from chatsite.bus.kafka import client_config, dead_letter_topic, full_topic
    from chatsite.bus.worker import Worker
    from contacts.models import Contact

    conversation = Contact.objects.get(owner=alice, other=bob).conversation
    key = str(conversation.uuid).encode()
    good = str(uuid.uuid4())
    # Same key, so the same partition: the good record comes after the poison ones.
    _produce(
        full_topic("messages"),
        [(key, b"not json"), (key, b'{"v": 99}'), (key, _record(alice, conversation, good))],
    )
    worker = Worker()
    try:
        _drain(worker, until=lambda: Message.objects.filter(client_msg_id=good).exists())
        assert worker.stats["dead_lettered"] == 2
    finally:
        worker.close()
    probe = Consumer({**client_config(), "group.id": f"probe-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"})
    probe.assign([TopicPartition(dead_letter_topic("messages"), 0, 0)])
    dead = []
    deadline = time.monotonic() + 10
    while len(dead) < 2 and time.monotonic() < deadline:
        msg = probe.poll(0.5)
        if msg is not None and not msg.error():
            dead.append(msg)
    probe.close()
    assert [m.value() for m in dead] == [b"not json", b'{"v": 99}']
    reasons = [dict(m.headers())["reason"].decode() for m in dead]
    assert reasons[0].startswith("undecodable record") and "version" in reasons[1]
    assert dict(dead[0].headers())["topic"] == b"messages"


@pytest.mark.kafka
def test_redrive_puts_dead_letters_back(own_topics, alice, bob):
    from chatsite.bus.kafka import dead_letter_topic
    from chatsite.bus.worker import Worker
    from contacts.models import Contact

    conversation = Contact.objects.get(owner=alice, other=bob).conversation
    cmid = str(uuid.uuid4())
    _produce(dead_letter_topic("messages"), [(str(conversation.uuid).encode(), _record(alice, conversation, cmid))])
    out = io.StringIO()
    call_command("redrive_dead_letters", "--dry-run", stdout=out)
    assert "listed 1 records" in out.getvalue()
    out = io.StringIO()
    call_command("redrive_dead_letters", stdout=out)
    assert "re-sent 1 records" in out.getvalue()
    worker = Worker()
    try:
        _drain(worker, until=lambda: Message.objects.filter(client_msg_id=cmid).exists())
    finally:
        worker.close()
    out = io.StringIO()
    call_command("redrive_dead_letters", stdout=out)
    assert "re-sent 0 records" in out.getvalue(), "a re-run continues where the last one stopped"


@pytest.mark.kafka
def test_worker_reports_lag_and_status_shows_it(own_topics, alice, bob):
    from chatsite.bus.kafka import full_topic
    from chatsite.bus.worker import Worker
    from contacts.models import Contact

    conversation = Contact.objects.get(owner=alice, other=bob).conversation
    worker = Worker()
    try:
        _drain(worker, until=lambda: bool(worker.assigned))
        _produce(
            full_topic("messages"), [(str(conversation.uuid).encode(), _record(alice, conversation, str(uuid.uuid4())))]
        )
        lags = worker.report_lag()
        assert sum(lags.values()) >= 1
        _drain(worker, until=lambda: Message.objects.count() == 1)
        assert sum(worker.report_lag().values()) == 0
    finally:
        worker.close()
    out = io.StringIO()
    call_command("status", stdout=out)
    text = out.getvalue()
    assert "consumer lag" in text and "dead letters in" in text


@pytest.mark.kafka
def test_a_fetch_that_skips_offsets_is_read_again_and_nothing_is_lost(own_topics, alice, bob, settings):
    """A fetch that skips records that are in the log (Tansu did, with two
    producers writing one partition at once) is read again from the hole:
    every acknowledged record is stored. The skip is made here by moving the
    consumer past two records, as that fetch did."""
    from confluent_kafka import TopicPartition

    from chatsite.bus.kafka import full_topic
    from chatsite.bus.worker import Worker
    from contacts.models import Contact

    settings.KAFKA_MAX_POLL_RECORDS = 2
    conversation = Contact.objects.get(owner=alice, other=bob).conversation
    key = str(conversation.uuid).encode()
    cmids = [str(uuid.uuid4()) for _ in range(6)]
    _produce(full_topic("messages"), [(key, _record(alice, conversation, cmid)) for cmid in cmids])
    worker = Worker()
    try:
        _drain(worker, until=lambda: Message.objects.filter(client_msg_id__in=cmids).count() >= 1)
        [(tp, expected)] = worker._next.items()
        worker.consumer.seek(TopicPartition(tp[0], tp[1], expected + 2))
        _drain(worker, until=lambda: Message.objects.filter(client_msg_id__in=cmids).count() == 6)
        assert worker.stats["refetches"] >= 1
        assert sorted(Message.objects.filter(conversation=conversation).values_list("seq", flat=True)) == list(
            range(1, 7)
        )
    finally:
        worker.close()
