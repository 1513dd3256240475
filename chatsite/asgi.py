"""ASGI entry point: HTTP through Django, /ws/ through the gateway."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402
from django.urls import path  # noqa: E402

from chatsite.gateway.consumer import Connection  # noqa: E402

websocket_urlpatterns = [path("ws/", Connection.as_asgi())]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The Origin check happens in the consumer before accept (see chatsite.gateway.origin).
        "websocket": SessionMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
