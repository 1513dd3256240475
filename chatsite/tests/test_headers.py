"""Security headers and cookie flags on every answer: every route of the URL
configuration (pages, the API, the back office, health), as anonymous and
signed in, over plain HTTP and over TLS."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from conftest import PASSWORD

pytestmark = pytest.mark.django_db

PARAM = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern):
            yield prefix + route


def every_path() -> list[str]:
    """Every route with its parameters filled in (ids that exist nowhere:
    the error answers need the headers as much as the others)."""
    paths = set()
    for route in _walk(get_resolver().url_patterns):
        # Regex routes (the API's catch-all, parts of the admin): a path they match.
        route = re.sub(r"\(\?P<\w+>[^()]*\)", "x", route.replace("^", "").replace("$", ""))
        route = re.sub(r"\(([^()|]+)\|[^()]*\)", r"\1", route).replace(".*", "x").replace("\\", "")
        path = "/" + PARAM.sub(lambda m: str(uuid.uuid4()) if m["conv"] != "int" else "1", route)
        paths.add(path)
    return sorted(paths)


def check_headers(response, *, path: str, tls: bool) -> None:
    where = f"{path} ({response.status_code}, {'https' if tls else 'http'})"
    assert response["X-Content-Type-Options"] == "nosniff", where
    assert response["Referrer-Policy"] == "same-origin", where
    assert response["X-Frame-Options"] == "DENY", where
    csp = response.get("Content-Security-Policy", "")
    if path.startswith("/api/docs/"):
        assert csp == "", where  # Swagger UI: its own inline script; framing still denied above
    else:
        assert "frame-ancestors 'none'" in csp or csp.startswith("sandbox;"), where
        assert "default-src" in csp, where
        if response.get("Content-Type", "").startswith("text/html"):
            assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp, where
    if tls:
        assert response["Strict-Transport-Security"].startswith("max-age=31536000"), where
    else:
        assert "Strict-Transport-Security" not in response, where
    for name, morsel in response.cookies.items():
        assert bool(morsel["secure"]) is tls, f"{where}: cookie {name}"
        assert morsel["samesite"].lower() == "lax", f"{where}: cookie {name}"
        if name == "sessionid":
            assert morsel["httponly"], where


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_every_route_answers_with_the_security_headers(client, alice, admin_user, api_for, tls):
    paths = every_path()
    assert len(paths) > 50 and "/api/v1/me" in paths and "/login" in paths
    bearer = api_for(alice)
    client.force_login(alice)
    anonymous_web = type(client)()
    administrator = type(client)()
    administrator.force_login(admin_user)
    for path in paths:
        for caller in (anonymous_web, client, bearer, administrator):
            response = caller.get(path, secure=tls)
            check_headers(response, path=path, tls=tls)


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_sign_in_cookies_are_flagged(client, alice, tls):
    """The cookies a browser gets when it signs in on the web pages and in
    the back office: Secure over TLS only, HttpOnly session, SameSite=Lax."""
    page = client.get("/login", secure=tls)
    check_headers(page, path="/login", tls=tls)
    assert "csrftoken" in page.cookies
    signed_in = client.post("/login", {"login": "alice", "password": PASSWORD}, secure=tls)
    assert signed_in.status_code == 302, signed_in.content[:300]
    check_headers(signed_in, path="/login", tls=tls)
    assert "sessionid" in signed_in.cookies
    admin = type(client)()
    login = admin.get("/admin/login/", secure=tls)
    check_headers(login, path="/admin/login/", tls=tls)
