"""ASGI entry point: HTTP through Django, /ws/ through the gateway."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

from chatsite.asgi_http import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402
from django.urls import path  # noqa: E402

from chatsite.gateway.consumer import Connection  # noqa: E402

websocket_urlpatterns = [path("ws/", Connection.as_asgi())]


def _warm_up() -> None:
    """Open the connections a server needs before its first user does."""
    # Django is set up above (get_asgi_application), so these load afterwards.
    from django.conf import settings

    if settings.BUS_BACKEND == "kafka":
        from chatsite.bus import get_bus  # only a server on Kafka warms up a producer

        get_bus().warm_up()


_warm_up()

from chatsite.bodyguard import BodyGuard  # noqa: E402
from chatsite.lifespan import LifespanApp  # noqa: E402
from chatsite.net import ClientAddressMiddleware  # noqa: E402

# Lifespan starts and stops the background tasks (chatsite.lifespan); the
# client's address and scheme are settled first, once, for everything below.
application = LifespanApp(
    ClientAddressMiddleware(
        ProtocolTypeRouter(
            {
                "http": BodyGuard(django_asgi_app),
                # The Origin check happens in the consumer before accept (see chatsite.gateway.origin).
                "websocket": SessionMiddlewareStack(URLRouter(websocket_urlpatterns)),
            }
        )
    )
)
