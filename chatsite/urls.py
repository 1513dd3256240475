from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from chatsite import fallbacks, health

handler500 = fallbacks.server_error

OPEN = {"authentication_classes": [], "permission_classes": [AllowAny]}

api_v1 = [
    # contacts first: its users/search must win over accounts' users/<user_id>.
    path("", include("contacts.urls")),
    path("", include("accounts.urls")),
    path("", include("groups.urls")),
    path("", include("files.urls")),
    # search first: its messages/search must win over messaging's messages/<message_id>/...
    path("", include("search.urls")),
    path("", include("messaging.urls")),
    path("", include("calls.urls")),
    path("", include("bots.urls")),
    path("", include("assistant.urls")),
    path("", include("notifications.urls")),
    path("", include("backoffice.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    # Open to everyone, so they read no credentials: a disabled account's token
    # got 403 from the schema and a 500 from the docs page.
    path("api/schema/", SpectacularAPIView.as_view(**OPEN), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", **OPEN), name="api-docs"),
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", health.metrics_view),
    path("admin/", admin.site.urls),
    re_path(r"^api/", fallbacks.api_not_found),
    # The web app (the chat home at /, sign-in, sign-up, the sections).
    path("", include("web.urls")),
]
