from chatsite.bus.group_command import GroupCommand
from search.bus_handlers import GROUP


class Command(GroupCommand):
    help = (
        "The search indexer: a consumer group of its own on the bus (Kafka) that writes stored messages, "
        "edits and recalls to the search index. Run one or more: they share the partitions. SIGTERM finishes "
        "the current batch and stops."
    )
    group = GROUP
    embedded = "with the in-process bus the server indexes itself."
