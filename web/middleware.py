"""A strict Content-Security-Policy on the server's HTML pages.

The pages load only their own scripts, styles, images and media (no inline
script or style, nothing from another origin); uploaded images are shown as
`blob:` previews before they are sent, and call video plays from `blob:`
media streams. Swagger UI at /api/docs/ ships an inline bootstrap script, so
it keeps its own headers (it shows only the API schema). Everything else
(JSON answers, redirects, plain errors) gets a policy that allows nothing at
all, so an answer opened in a browser can never run or frame anything;
downloads set their own (files.serving), and so does the service worker's
script (web.pwa: a worker runs under its script's policy).
"""

from __future__ import annotations

from django.conf import settings

POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob:",
        "connect-src 'self' ws: wss:",
        "font-src 'self'",
        # The service worker (/sw.js) and the web app manifest are the site's own.
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)

NOTHING = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

EXEMPT_PREFIXES = ("/api/docs/",)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.exempt = tuple(getattr(settings, "CSP_EXEMPT_PREFIXES", EXEMPT_PREFIXES))

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" in response or request.path.startswith(self.exempt):
            return response
        html = response.get("Content-Type", "").startswith("text/html")
        response["Content-Security-Policy"] = POLICY if html else NOTHING
        return response
