from django.apps import AppConfig


class ChatsiteConfig(AppConfig):
    name = "chatsite"
    verbose_name = "WebsocketChat"

    def ready(self) -> None:
        # Models and the apps' frame handlers load only once every app is ready.
        from chatsite import daphne_body, daphne_compat
        from chatsite.gateway import registry

        registry.autodiscover()
        daphne_compat.install()
        # Before daphne accepts a connection: bodies over the upload cap are
        # refused while they arrive, and multipart bodies are not parsed into
        # memory by Twisted (chatsite/daphne_body.py, docs/files.md).
        daphne_body.install()
