import sys

from django.apps import AppConfig


class ChatsiteConfig(AppConfig):
    name = "chatsite"
    verbose_name = "WebsocketChat"

    def ready(self) -> None:
        # Models and the apps' frame handlers load only once every app is ready.
        from chatsite.gateway import registry

        registry.autodiscover()
        # Served by daphne (its command line loads its server before the
        # application; ASGI_SERVER=daphne): before it accepts a connection,
        # bodies over the upload cap are refused while they arrive, multipart
        # bodies are not parsed into memory by Twisted (chatsite/daphne_body.py,
        # docs/files.md), and its sockets close with our codes. Other
        # processes never load Twisted.
        if "daphne.server" in sys.modules:
            from chatsite import daphne_body, daphne_compat  # they load Twisted

            daphne_compat.install()
            daphne_body.install()
