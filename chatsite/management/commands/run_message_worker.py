from django.conf import settings
from django.core.management.base import CommandError

from chatsite.bus.group_command import WorkerCommand


class Command(WorkerCommand):
    help = (
        "Consume the message bus (Kafka): store messages and fan them out. Run as many as you like: "
        "they share the partitions. SIGTERM finishes the current batch and leaves the group."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--group", help="consumer group (default: KAFKA_CONSUMER_GROUP)")

    def handle(self, *args, **options):
        if settings.BUS_BACKEND != "kafka":
            raise CommandError(
                "KAFKA_BOOTSTRAP_SERVERS is not set: with the in-process bus the server stores messages itself."
            )
        self.serve_metrics(options)
        self.run_worker(group_id=options.get("group"))
