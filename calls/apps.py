from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "calls"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registries are filled once every app is ready (models load after apps).
        from calls.services import do_end_calls_between
        from contacts.services import react_to_parting

        # A block or a removed contact ends a live call between the two at once.
        react_to_parting(do_end_calls_between)
