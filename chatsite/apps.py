from django.apps import AppConfig


class ChatsiteConfig(AppConfig):
    name = "chatsite"
    verbose_name = "WebsocketChat"

    def ready(self) -> None:
        from chatsite import daphne_compat
        from chatsite.gateway import registry

        registry.autodiscover()
        daphne_compat.install()
