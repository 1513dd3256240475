from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    """The core every chat feature stands on: conversations, their members,
    the message log with its gapless seq, read cursors and the wire shapes of
    Conversation and Message. It imports none of the apps built on it."""

    name = "conversations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registries are filled once every app is ready (models load after apps).
        from conversations.selectors import may_read_attachment, messages_holding
        from files import access

        # A file sent in a message is readable by the members who can read it.
        access.register(reader=may_read_attachment, holder=messages_holding)
