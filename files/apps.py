from django.apps import AppConfig


class FilesConfig(AppConfig):
    name = "files"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Before daphne accepts a connection: bodies over the upload cap are
        # refused while they arrive, and multipart bodies are not parsed into
        # memory by Twisted (files/daphne.py, docs/files.md).
        from files import daphne

        daphne.install()
