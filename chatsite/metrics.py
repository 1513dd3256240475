"""Prometheus metrics (prometheus-client), one registry per process.

Server processes expose them at /metrics; a message worker exposes its own on
WORKER_METRICS_PORT (see docs/operations.md). Names start with `wsc_`.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: F401
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

http_requests = Counter(
    "wsc_http_requests_total", "HTTP requests by route and status", ["method", "route", "status"], registry=REGISTRY
)
http_latency = Histogram(
    "wsc_http_request_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
websockets_open = Gauge("wsc_websockets_open", "Open WebSockets in this process", registry=REGISTRY)
websocket_closes = Counter("wsc_websocket_closes_total", "WebSocket closes by code", ["code"], registry=REGISTRY)
frames_in = Counter("wsc_frames_in_total", "Client frames by type", ["type"], registry=REGISTRY)
frames_out = Counter("wsc_frames_out_total", "Frames sent to sockets", registry=REGISTRY)
socket_writes = Counter(
    "wsc_socket_writes_total",
    "Writes to sockets (a batch of frames is one, where the server takes batches)",
    registry=REGISTRY,
)
messages_accepted = Counter(
    "wsc_messages_accepted_total", "Messages the bus confirmed (accepted acks)", registry=REGISTRY
)
messages_stored = Counter("wsc_messages_stored_total", "Messages stored (new rows)", registry=REGISTRY)
messages_duplicates = Counter(
    "wsc_messages_duplicates_total", "Resent or redelivered messages that stored nothing", registry=REGISTRY
)
messages_delivered = Counter(
    "wsc_messages_delivered_total", "message.new deliveries published (one per recipient user)", registry=REGISTRY
)
store_latency = Histogram(
    "wsc_message_store_seconds",
    "From the gateway accepting a message to its row being committed",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
produce_latency = Histogram(
    "wsc_bus_produce_seconds",
    "From submit to the broker's delivery report",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
bus_records = Counter(
    "wsc_bus_records_total",
    "Records produced, by producer: express (sent at once) or batching (lingered)",
    ["producer"],
    registry=REGISTRY,
)
bus_errors = Counter("wsc_bus_errors_total", "Messages answered unavailable by the bus", registry=REGISTRY)
dead_lettered = Counter("wsc_dead_lettered_total", "Records sent to a dead-letter topic", ["topic"], registry=REGISTRY)
consumer_lag = Gauge(
    "wsc_consumer_lag", "Records not yet consumed, per partition (worker)", ["topic", "partition"], registry=REGISTRY
)
sms_sent = Counter("wsc_sms_sent_total", "SMS codes sent by purpose", ["purpose"], registry=REGISTRY)
call_outcomes = Counter("wsc_call_outcomes_total", "Ended calls by outcome", ["outcome"], registry=REGISTRY)
# Web Push (the notifier).
push_planned = Counter("wsc_push_planned_total", "Pushes owed (one per subscription and thing)", registry=REGISTRY)
push_sent = Counter("wsc_push_sent_total", "Pushes the push service took, by kind", ["kind"], registry=REGISTRY)
push_failed = Counter(
    "wsc_push_failed_total", "Pushes given up: gone (404/410), refused, expired", ["reason"], registry=REGISTRY
)
push_retried = Counter("wsc_push_retried_total", "Pushes scheduled again after a failure", registry=REGISTRY)
push_dropped = Counter(
    "wsc_push_dropped_total", "Pushes no longer wanted when due (read, muted, quiet hours...)", registry=REGISTRY
)
push_backlog = Gauge("wsc_push_backlog", "Pushes due and not yet sent", registry=REGISTRY)


def render() -> bytes:
    return generate_latest(REGISTRY)
