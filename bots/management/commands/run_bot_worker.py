from bots.bus_handlers import GROUP
from bots.events import Sender
from chatsite.bus.group_command import GroupCommand


class Command(GroupCommand):
    help = (
        "The bots worker: a consumer group of its own on the bus (Kafka) that turns messages to bots, mentions of "
        "bots and slash commands into outgoing events, and sends them to the bots' URLs with retries. Run one or "
        "more: they share the partitions and the events due. SIGTERM finishes the current batch and stops."
    )
    group = GROUP
    embedded = "with the in-process bus the server does this."
    sender = Sender
