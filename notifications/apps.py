from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registries are filled once every app is ready (models load after apps).
        from accounts.actions.sessions import on_sessions_ended
        from notifications.services import do_remove_session_subscriptions

        # A subscription lives as long as the login session that made it.
        on_sessions_ended(do_remove_session_subscriptions)
