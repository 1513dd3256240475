"""/healthz (the process serves) and /readyz (each configured backing service answers)."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache

from chatsite import bus, metrics
from chatsite import redis as rds
from chatsite.errors import NotFound
from chatsite.net import request_ip

logger = logging.getLogger(__name__)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache() -> None:
    rds.client().ping()


def _check_broker() -> None:
    bus.get_bus().check(timeout=2.0)


# What apps above report in /readyz besides the checks (search: which backend
# serves). `report() -> str`; an error is shown, never fails readiness.
_reports: dict[str, Callable[[], str]] = {}


def add_report(name: str, report: Callable[[], str]) -> None:
    _reports[name] = report


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database}
    if settings.REDIS_URL:
        checks["cache"] = _check_cache
    if settings.BUS_BACKEND == "kafka":
        checks["broker"] = _check_broker
    result: dict[str, str] = {}
    ok = True
    for name, check in checks.items():
        try:
            check()
            result[name] = "ok"
        except Exception as exc:
            ok = False
            result[name] = "unavailable"
            logger.warning("readyz: %s unavailable: %s", name, exc)
    if ok:
        for name, report in _reports.items():
            try:
                result[name] = report()
            except Exception as exc:
                result[name] = "unavailable"
                logger.warning("readyz: %s: %s", name, exc)
    return JsonResponse(result, status=200 if ok else 503)


def _metrics_allowed(request: HttpRequest) -> bool:
    if settings.DEBUG:
        return True
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip(), token):
        return True
    ip = request_ip(request)
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return False
    for allowed in settings.METRICS_ALLOWED_IPS:
        try:
            if address in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            continue
    return False


@never_cache
def metrics_view(request: HttpRequest):
    if not _metrics_allowed(request):
        return JsonResponse({"error": NotFound(gettext("No such endpoint.")).as_dict()}, status=404)
    return HttpResponse(metrics.render(), content_type=metrics.CONTENT_TYPE)
