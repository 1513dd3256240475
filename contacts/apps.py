from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registries are filled once every app is ready (models load after apps).
        from accounts.actions.profile import add_profile_audience
        from chatsite import lifespan
        from contacts import letters
        from contacts.selectors import blocked_apart, blocking_readers, profile_audience, sender_blocked_by
        from conversations.selectors import register_apart_check, register_mention_mute, register_mention_skip

        # A user's contacts see their profile changes (user.updated).
        add_profile_audience(profile_audience)
        # Mentions from someone the reader blocks do not count for them.
        register_mention_mute(sender_blocked_by)
        # and one sent while the block lasts never counts, not after it either.
        register_mention_skip(blocking_readers)
        # Two people blocked apart hear nothing of each other in their chat.
        register_apart_check(blocked_apart)
        # The contact list's pinyin, loaded by a server as it starts.
        lifespan.warm_up("pinyin")(letters.warm)
