"""Answers of last resort: an unknown path under /api/, and an unexpected
failure anywhere. API clients get the JSON error shape (docs/protocol/errors.md)
from both, never one of Django's HTML pages."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

from chatsite.errors import NotFound, Unavailable


@csrf_exempt  # nothing is done here: the CSRF check would answer an API client with an HTML 403 instead
def api_not_found(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"error": NotFound(gettext("No such endpoint.")).as_dict()}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's handler500 (DEBUG off; the exception is already logged with
    its request id). The status stays 500: it is a bug, not a backing service
    that is down, but the body is the one error shape clients parse."""
    if request.path.startswith("/api/"):
        error = Unavailable(gettext("Something went wrong on the server; try again later."))
        return JsonResponse({"error": error.as_dict()}, status=500)
    return defaults.server_error(request)
