from chatsite.bus.group_command import GroupCommand
from notifications.bus_handlers import GROUP
from notifications.delivery import Sender


class Command(GroupCommand):
    help = (
        "The notifier: a consumer group of its own on the bus (Kafka) that plans Web Push notifications for "
        "stored messages, calls and contact requests, and sends them. Run one or more: they share the partitions "
        "and the pushes due. SIGTERM finishes the current batch and stops."
    )
    group = GROUP
    embedded = "with the in-process bus the server notifies itself."
    sender = Sender
