"""The installable app: the web app manifest, the service worker and the
offline shell it falls back to.

The service worker is served from the root (`/sw.js`, scope `/`) so it can
answer for every page. Its script is rendered here with what it needs: the
version of the deployed static files (a hash of their bytes, of the offline
shell's template and of the translations), the list of files to keep for
offline use, and a few words in the browser's language. A deploy that
changes any of them changes the script's bytes, so the browser installs the
new worker, which fills a new cache and deletes the old ones.

What the worker keeps: the app's own static files and the offline shell
(`/offline`, which holds no user data and no CSRF token). It never stores an
API answer, a download, the signed-in pages or anything else that needs the
session: those always go to the network (docs/web.md, "The installable app").
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import get_template
from django.templatetags.static import static
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

# The app's own static files (static/): the service worker keeps these.
OWN_STATIC = Path(settings.BASE_DIR) / "static"
PRECACHE_DIRS = ("css", "img", "js")
# The colours of static/css/app.css: --rail (the window's title bar beside
# the rail) and --bg (the splash screen behind the icon).
THEME_COLOR = "#1f2d27"
BACKGROUND_COLOR = "#f3f5f6"

# A service worker may only fetch and import from this origin; nothing else.
WORKER_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data: blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'none'",
    ]
)


def _static_names() -> list[str]:
    """The app's static files, as relative paths, sorted."""
    names = []
    for folder in PRECACHE_DIRS:
        base = OWN_STATIC / folder
        if base.is_dir():
            names += [p.relative_to(OWN_STATIC).as_posix() for p in base.rglob("*") if p.is_file()]
    return sorted(n for n in names if not Path(n).name.startswith("."))


def _served_bytes(name: str) -> bytes:
    """The bytes the server serves for a static file: the collected copy
    (what whitenoise serves), else the source."""
    try:
        if staticfiles_storage.exists(name):
            with staticfiles_storage.open(name) as f:
                return f.read()
    except (NotImplementedError, OSError):
        pass
    return (OWN_STATIC / name).read_bytes()


def _compute_version() -> str:
    digest = hashlib.sha256()
    for name in _static_names():
        digest.update(name.encode() + b"\0" + _served_bytes(name) + b"\0")
    for template in ("web/sw.js", "web/offline.html", "web/base.html"):
        digest.update(Path(get_template(template).origin.name).read_bytes())
    for mo in sorted(Path(settings.BASE_DIR, "locale").glob("*/LC_MESSAGES/*.mo")):
        digest.update(mo.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def _deployed_version() -> str:
    return _compute_version()


def static_version() -> str:
    """A short hash of everything the worker keeps; computed once per
    process in production (the files do not change under a running server),
    on every request in development."""
    return _compute_version() if settings.DEBUG else _deployed_version()


def _icons() -> list[dict]:
    return [
        {"src": static("img/icon-192.png"), "sizes": "192x192", "type": "image/png", "purpose": "any"},
        {"src": static("img/icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "any"},
        {"src": static("img/icon-maskable-192.png"), "sizes": "192x192", "type": "image/png", "purpose": "maskable"},
        {"src": static("img/icon-maskable-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
        {"src": static("img/favicon.svg"), "sizes": "any", "type": "image/svg+xml", "purpose": "any"},
    ]


@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    """The web app manifest, in the visitor's language."""
    language = translation.get_language() or settings.LANGUAGE_CODE
    home = reverse("web:home")
    data = {
        "id": home,
        "name": _("WebsocketChat"),
        "short_name": _("WSChat"),
        "description": _("Chat with your contacts and groups, send files, and make voice and video calls."),
        "lang": "zh-Hans" if language == "zh-hans" else language,
        "dir": "ltr",
        "start_url": home,
        "scope": home,
        "display": "standalone",
        "display_override": ["standalone", "minimal-ui"],
        "orientation": "any",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "categories": ["social", "communication"],
        "prefer_related_applications": False,
        "icons": _icons(),
        "shortcuts": [
            {
                "name": _("Contacts"),
                "url": reverse("web:contacts"),
                "icons": [{"src": static("img/icon-192.png"), "sizes": "192x192", "type": "image/png"}],
            },
            {
                "name": _("Calls"),
                "url": reverse("web:calls"),
                "icons": [{"src": static("img/icon-192.png"), "sizes": "192x192", "type": "image/png"}],
            },
        ],
    }
    response = JsonResponse(data, json_dumps_params={"ensure_ascii": False})
    response["Content-Type"] = "application/manifest+json"
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker's script, for scope `/`."""
    language = translation.get_language() or settings.LANGUAGE_CODE
    version = static_version()
    config = {
        "version": version,
        # A cache per version and language: the offline shell is in the
        # browser's language, and switching it installs a new worker.
        "cache": f"wsc-shell-{version}-{language}",
        "cache_prefix": "wsc-shell-",
        "offline": reverse("web:offline"),
        "precache": [reverse("web:offline"), *(static(name) for name in _static_names())],
        "static_prefix": settings.STATIC_URL,
        # Never handled by the worker: the network answers, nothing is kept.
        "network_only": ["/api/", "/ws/", "/admin/", "/media/", "/i18n/", "/logout", "/sw.js"],
        "icon": static("img/icon-192.png"),
        "badge": static("img/badge-96.png"),
        "home": reverse("web:home"),
        "requests": reverse("web:contact", kwargs={"item": "requests"}),
        "chat": reverse("web:chat", kwargs={"item": "CONVERSATION"}),
        "words": {
            "app": _("WebsocketChat"),
            "generic": _("You have a new notification."),
            "message": _("New message"),
            "call": _("Incoming call"),
            "request": _("New contact request"),
        },
    }
    body = get_template("web/sw.js").render({"config": json.dumps(config, ensure_ascii=True, indent=1)})
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    response["Content-Security-Policy"] = WORKER_POLICY
    response["Vary"] = "Cookie, Accept-Language"
    return response


@require_GET
def offline_page(request: HttpRequest) -> HttpResponse:
    """The shell the service worker shows when a page cannot be reached: the
    app's frame and a word about the connection, with no user data in it
    (it is kept in the browser's cache)."""
    response = render(request, "web/offline.html", {"sections": ("chats", "contacts", "groups", "calls")})
    response["Cache-Control"] = "no-cache"
    return response
