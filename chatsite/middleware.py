"""Request ids, one access-log line per request, Secure cookies over TLS, and 503 when a backing service is down."""

from __future__ import annotations

import logging
import re
import time
import uuid

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

from chatsite import metrics
from chatsite.db import maintain
from chatsite.errors import Unavailable
from chatsite.logging import request_id_var

logger = logging.getLogger("chatsite.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ConnectionUpkeepMiddleware:
    """Django's per-request database upkeep (CONN_MAX_AGE, health checks), on
    the thread that serves the request (chatsite.asgi_http's lanes), at most
    every few seconds per thread (chatsite.db.maintain)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        maintain()
        return self.get_response(request)


class RequestIdMiddleware:
    """Takes a sane X-Request-ID from the proxy or makes one; logs the request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        request.request_id = rid
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = rid
            elapsed = time.perf_counter() - started
            match = getattr(request, "resolver_match", None)
            route = match.route if match is not None else "unmatched"
            metrics.http_requests.labels(request.method, route, str(response.status_code)).inc()
            metrics.http_latency.labels(request.method, route).observe(elapsed)
            user = getattr(request, "user", None)
            logger.info(
                "%s %s %s %s %.1fms",
                request.META.get("REMOTE_ADDR") or "-",
                request.method,
                request.path,
                response.status_code,
                (time.perf_counter() - started) * 1000,
                extra={
                    "client_ip": request.META.get("REMOTE_ADDR"),
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "user_id": user.pk if user is not None and user.is_authenticated else None,
                },
            )
            return response
        finally:
            request_id_var.reset(token)


class SecureCookiesMiddleware:
    """Every cookie set on a request that came over TLS is `Secure`.

    Whether a request is TLS is known per request (chatsite.net decides it
    from the socket or a trusted proxy), so one configuration serves plain
    http on localhost (`make run`) and https behind a proxy. Listed before the
    session and CSRF middleware so it sees the cookies they set."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.is_secure():
            for morsel in response.cookies.values():
                morsel["secure"] = True
        return response


class ServiceUnavailableMiddleware:
    """A database that went away answers 503 `unavailable`, never a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, (OperationalError, InterfaceError, Unavailable)):
            logger.warning("service unavailable on %s: %s", request.path, exception)
            err = exception if isinstance(exception, Unavailable) else Unavailable()
            response = JsonResponse({"error": err.as_dict()}, status=503)
            response["Retry-After"] = "5"
            return response
        return None
