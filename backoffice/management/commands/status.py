"""`manage.py status`: what an operator checks first."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from chatsite import bus
from chatsite import redis as rds
from contacts import presence
from search.backends import describe as describe_search


class Command(BaseCommand):
    help = "A status summary: the search backend, server nodes and their sockets, users online, consumer lag, dead letters."

    def handle(self, *args, **options):
        out = self.stdout
        out.write(
            f"bus: {settings.BUS_BACKEND}, channel layer: {settings.CHANNEL_LAYER_BACKEND.rsplit('.', 1)[-1]}, database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"
        )
        out.write(describe_search())
        if not settings.REDIS_URL:
            out.write("embedded mode: one process; its live figures are at /metrics")
            return
        store = presence.store()
        nodes = store.nodes()
        out.write(f"server nodes: {len(nodes)}")
        for node, info in sorted(nodes.items()):
            out.write(f"  {node}: {info['sockets']} sockets")
        out.write(f"users online: {store.online_count()}")
        if settings.BUS_BACKEND == "kafka":
            self._kafka(out)

    def _kafka(self, out) -> None:
        # The Kafka client only where a broker is configured.
        from confluent_kafka import Consumer, TopicPartition

        from chatsite.bus.kafka import client_config, dead_letter_topic
        from chatsite.bus.worker import group_id_for

        for group in bus.groups():
            group_id = group_id_for(group)
            lag = rds.client().hgetall(rds.key("lag", group_id))
            total = sum(int(v) for v in lag.values())
            out.write(
                f"consumer lag (group {group_id}): {total}"
                + ("" if lag else " (no worker reported in the last minute)")
            )
            for part, value in sorted(lag.items()):
                out.write(f"  {part.decode()}: {int(value)}")
        probe = Consumer(
            {**client_config(), "group.id": f"{settings.KAFKA_CONSUMER_GROUP}-status", "enable.auto.commit": False}
        )
        try:
            for topic in bus.topics(group=None):
                name = dead_letter_topic(topic)
                meta = probe.list_topics(name, timeout=5).topics.get(name)
                count = 0
                if meta is not None and not meta.error:
                    for partition in meta.partitions:
                        low, high = probe.get_watermark_offsets(TopicPartition(name, partition), timeout=5)
                        count += max(0, high - low)
                out.write(f"dead letters in {name}: {count}")
        finally:
            probe.close()
