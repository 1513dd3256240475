from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "search"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registries are filled once every app is ready (models load after apps).
        from chatsite.health import add_report
        from search.backends import readiness

        add_report("search", readiness)
