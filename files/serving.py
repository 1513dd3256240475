"""HTTP responses that carry a file's bytes: headers that keep the browser
from treating an upload as a page, Range requests, conditional requests, and
X-Accel-Redirect when a front proxy sends the bytes."""

from __future__ import annotations

import re
from urllib.parse import quote

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from files import storage
from files.content import OCTET_STREAM

# Shown in the browser when opened directly; everything else is downloaded
# (`Content-Disposition: attachment`) and sent as application/octet-stream,
# so neither a page nor a <script>/<link> on our origin can use it. No SVG
# (it runs scripts), no HTML or XML, no PDF (viewers run scripts).
INLINE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "audio/mpeg",
        "audio/ogg",
        "audio/wav",
        "audio/x-wav",
        "audio/webm",
        "audio/mp4",
        "audio/aac",
        "audio/flac",
        "audio/x-flac",
        "video/mp4",
        "video/webm",
        "video/ogg",
        "video/quicktime",
    }
)
# Even an inline image opened on its own may run nothing and load nothing.
CSP = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'"

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def content_disposition(kind: str, name: str) -> str:
    """RFC 6266 with an RFC 8187 `filename*` for the real (UTF-8) name and a
    plain ASCII `filename` for old clients; quotes, backslashes and anything
    outside printable ASCII are replaced in the fallback."""
    fallback = "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\%' else "_" for ch in name) or "file"
    encoded = quote(name, safe="!#$&+-.^_`|~")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """One byte range of a `Range` header as (start, length); None when the
    header is absent, malformed or asks for several ranges (the whole file is
    sent then, as RFC 9110 allows); False when it cannot be satisfied."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        suffix = int(last)
        if suffix == 0:
            return False
        start = max(0, size - suffix)
        return start, size - start
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        return False
    end = min(end, size - 1)
    return start, end - start + 1


def file_response(
    request: HttpRequest,
    *,
    key: str,
    size: int,
    mime: str,
    name: str,
    etag: str,
) -> HttpResponse:
    """The bytes of a blob with every header of the download rules
    (docs/files.md): inline only for INLINE_TYPES, nosniff, a sandboxing CSP,
    `Cache-Control: private, no-cache` (revalidated, so an access check runs
    on every use), ETag/If-None-Match, and a single `Range` (206/416)."""
    inline = mime in INLINE_TYPES
    headers = {
        "Content-Type": mime if inline else OCTET_STREAM,
        "Content-Disposition": content_disposition("inline" if inline else "attachment", name),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": CSP,
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": "private, no-cache",
        "Accept-Ranges": "bytes",
        "ETag": f'"{etag}"',
    }
    if _etag_matches(request.META.get("HTTP_IF_NONE_MATCH"), etag):
        response = HttpResponse(status=304)
        _apply(response, headers, exclude=("Content-Type", "Content-Disposition"))
        return response

    if settings.FILE_ACCEL_REDIRECT_PREFIX:
        # The proxy sends the bytes and answers Range itself (docs/files.md).
        response = HttpResponse(status=200)
        _apply(response, headers)
        response["X-Accel-Redirect"] = settings.FILE_ACCEL_REDIRECT_PREFIX + quote(key)
        response["X-Accel-Buffering"] = "no"
        return response

    wanted = parse_range(request.META.get("HTTP_RANGE"), size)
    if wanted is not None and not _if_range_holds(request.META.get("HTTP_IF_RANGE"), etag):
        wanted = None
    if wanted is False:
        response = HttpResponse(status=416)
        _apply(response, headers, exclude=("Content-Disposition",))
        response["Content-Type"] = "text/plain"
        response["Content-Range"] = f"bytes */{size}"
        return response
    start, length = wanted if wanted else (0, size)
    status = 206 if wanted else 200
    if request.method == "HEAD":
        response = HttpResponse(status=status)
    else:
        chunks = (
            storage.aread_range(key, start, length)
            if isinstance(request, ASGIRequest)
            else storage.read_range(key, start, length)
        )
        response = StreamingHttpResponse(chunks, status=status)
    _apply(response, headers)
    response["Content-Length"] = str(length)
    if wanted:
        response["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    return response


def _apply(response: HttpResponse, headers: dict[str, str], exclude: tuple[str, ...] = ()) -> None:
    for name, value in headers.items():
        if name not in exclude:
            response[name] = value


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return f'"{etag}"' in tags


def _if_range_holds(header: str | None, etag: str) -> bool:
    """If-Range with our (strong) ETag keeps the Range; anything else (a date,
    another tag) means "send it all"."""
    return header is None or header.strip() == f'"{etag}"'
