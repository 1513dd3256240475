"""`manage.py status`: what an operator checks first.

It is read when something is wrong, so a service that does not answer is a
line of the report (`redis: unavailable (…)`), not a traceback: the rest is
still shown, and the command exits with status 1 at the end."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from redis.exceptions import RedisError

from chatsite import bus
from chatsite import redis as rds
from contacts import presence
from search.backends import describe as describe_search

# How long each question to the broker may take.
BROKER_TIMEOUT_S = 5.0


class Command(BaseCommand):
    help = (
        "A status summary: the search backend, server nodes and their sockets, users online, consumer lag, "
        "dead letters waiting. A service that does not answer is reported on its line; the command then exits "
        "with status 1."
    )

    def handle(self, *args, **options):
        out = self.stdout
        down: list[str] = []
        out.write(
            f"bus: {settings.BUS_BACKEND}, channel layer: {settings.CHANNEL_LAYER_BACKEND.rsplit('.', 1)[-1]}, database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"
        )
        try:
            connection.ensure_connection()
        except Exception as exc:
            out.write(f"database: unavailable ({exc})")
            down.append("database")
        else:
            out.write(describe_search())
        if not settings.REDIS_URL:
            out.write("embedded mode: one process; its live figures are at /metrics")
        else:
            if not self._redis(out):
                down.append("redis")
            if settings.BUS_BACKEND == "kafka" and not self._kafka(out, redis_up="redis" not in down):
                down.append("broker")
        if down:
            raise CommandError(f"unavailable: {', '.join(down)}", returncode=1)

    def _redis(self, out) -> bool:
        """Server nodes and users online; False when Redis does not answer."""
        try:
            store = presence.store()
            nodes = store.nodes()
            online = store.online_count()
        except RedisError as exc:
            out.write(f"redis: unavailable ({exc})")
            return False
        out.write(f"server nodes: {len(nodes)}")
        for node, info in sorted(nodes.items()):
            out.write(f"  {node}: {info['sockets']} sockets")
        out.write(f"users online: {online}")
        return True

    def _kafka(self, out, *, redis_up: bool) -> bool:
        """Consumer lag (as the workers last reported it to Redis) and the
        dead letters waiting; False when the broker does not answer."""
        # The Kafka client only where a broker is configured.
        from confluent_kafka import Consumer, KafkaException, TopicPartition

        from chatsite.bus.kafka import client_config, dead_letter_topic
        from chatsite.bus.worker import group_id_for

        for group in bus.groups() if redis_up else []:
            group_id = group_id_for(group)
            try:
                lag = rds.client().hgetall(rds.key("lag", group_id))
            except RedisError:
                redis_up = False
                break
            total = sum(int(v) for v in lag.values())
            out.write(
                f"consumer lag (group {group_id}): {total}"
                + ("" if lag else " (no worker reported in the last minute)")
            )
            for part, value in sorted(lag.items()):
                out.write(f"  {part.decode()}: {int(value)}")
        if not redis_up:
            out.write("consumer lag: unknown (the workers report it to Redis)")
        # Waiting: after the offset redrive_dead_letters committed (its group),
        # not every record ever dead-lettered. The probe only reads that
        # group's offsets: it never joins the group.
        probe = Consumer(
            {**client_config(), "group.id": f"{settings.KAFKA_CONSUMER_GROUP}-redrive", "enable.auto.commit": False}
        )
        try:
            listed = probe.list_topics(timeout=BROKER_TIMEOUT_S).topics
            for topic in bus.topics(group=None):
                name = dead_letter_topic(topic)
                meta = listed.get(name)
                if meta is None or meta.error is not None:
                    out.write(f"dead letters in {name}: no such topic (create_topics makes it)")
                    continue
                partitions = [TopicPartition(name, p) for p in sorted(meta.partitions)]
                committed = {tp.partition: tp.offset for tp in probe.committed(partitions, timeout=BROKER_TIMEOUT_S)}
                waiting = 0
                for tp in partitions:
                    low, high = probe.get_watermark_offsets(tp, timeout=BROKER_TIMEOUT_S)
                    waiting += max(0, high - max(low, committed.get(tp.partition, -1)))
                out.write(f"dead letters in {name}: {waiting} waiting")
        except KafkaException as exc:
            error = exc.args[0] if exc.args else exc
            out.write(f"broker: unavailable at {settings.KAFKA_BOOTSTRAP_SERVERS} ({error})")
            return False
        finally:
            probe.close()
        return True
