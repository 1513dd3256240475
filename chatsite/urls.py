from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from chatsite import health

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("contacts.urls")),
    path("", include("groups.urls")),
    path("", include("files.urls")),
    path("", include("messaging.urls")),
    path("", include("calls.urls")),
    path("", include("backoffice.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", health.metrics_view),
    path("admin/", admin.site.urls),
    re_path(r"^api/", health.api_not_found),
    # The web app (the chat home at /, sign-in, sign-up, the sections).
    path("", include("web.urls")),
]
