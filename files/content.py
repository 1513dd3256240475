"""What an uploaded file is: its display name, its type sniffed from the bytes,
and, for images, their size and a thumbnail.

The type comes from libmagic (python-magic), never from the file's name or the
Content-Type the client sent. libmagic is the `file` command's library: it
knows HTML, SVG and XML as well as the binary formats, which matters here,
because those text formats are what a browser could be tricked into running.
"""

from __future__ import annotations

import io
import logging
import struct
import unicodedata
import warnings
from dataclasses import dataclass
from typing import BinaryIO

import magic
from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

NAME_MAX = 200
DEFAULT_NAME = "file"
OCTET_STREAM = "application/octet-stream"
# Images we decode with Pillow for a thumbnail and width/height.
IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
THUMBNAIL_BOX = (320, 320)
# How much of a file libmagic looks at when it is not on disk.
SNIFF_BYTES = 1024 * 1024

# Bidirectional controls (a name like "\u202egnp.exe" displays as "exe.png").
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Joiners are format characters too, but emoji sequences need them.
_KEEP_FORMAT = {"\u200c", "\u200d"}


def clean_display_name(raw: str | None) -> str:
    """The name shown for a file: NFKC, the last path component only, no
    control, surrogate, bidi-override or other invisible format characters,
    at most NAME_MAX code points (the extension is kept when it is cut).
    Never used as a path: files are stored under server-generated keys."""
    name = unicodedata.normalize("NFKC", raw or "")
    # After NFKC, so that fullwidth "／" and "＼" are caught as well.
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = []
    for ch in name:
        category = unicodedata.category(ch)
        if ch in _BIDI or category in ("Cc", "Cs", "Zl", "Zp"):
            continue
        if category == "Cf" and ch not in _KEEP_FORMAT:
            continue
        kept.append(ch)
    name = " ".join("".join(kept).split()).strip(" .")
    if not name:
        return DEFAULT_NAME
    if len(name) > NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16 and stem:
            name = stem[: NAME_MAX - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:NAME_MAX].rstrip(" .")
    return name or DEFAULT_NAME


def sniff_mime(*, path: str | None = None, head: bytes | None = None) -> str:
    """The type of a file from its bytes (libmagic), e.g. `image/png`,
    `text/html`, `image/svg+xml`; `application/octet-stream` when unknown."""
    try:
        found = magic.from_file(path, mime=True) if path is not None else magic.from_buffer(head or b"", mime=True)
    except (magic.MagicException, OSError) as exc:
        logger.warning("type sniffing failed: %s", exc)
        return OCTET_STREAM
    # libmagic may append details ("application/x-executable, no program header").
    found = (found or "").split(";", 1)[0].split(",", 1)[0].strip().lower()
    if not found or "/" not in found or len(found) > 127:
        return OCTET_STREAM
    return found


def is_refused(mime: str) -> bool:
    return mime in {m.strip().lower() for m in settings.FILE_REFUSED_MIME_TYPES}


@dataclass(frozen=True)
class ImageInfo:
    width: int | None
    height: int | None
    thumbnail: bytes | None
    thumbnail_ext: str | None


class NotAnImage(Exception):
    """The bytes start like an image but do not decode as one."""


def inspect_image(fileobj: BinaryIO, *, mime: str) -> ImageInfo:
    """Width, height (as displayed, after EXIF rotation) and a thumbnail of an
    image of a sniffed image type. An image over FILE_IMAGE_MAX_PIXELS is not
    decoded at all (decompression bombs): no size, no thumbnail. Raises
    NotAnImage when the bytes are not a whole, decodable image of that type."""
    max_pixels = settings.FILE_IMAGE_MAX_PIXELS
    fileobj.seek(0)
    with warnings.catch_warnings():
        # Pillow's own bomb guard warns at MAX_IMAGE_PIXELS and raises at
        # twice that; we check the header's size ourselves before decoding.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(fileobj, formats=[IMAGE_TYPES[mime]]) as image:
                width, height = image.size
                if width <= 0 or height <= 0:
                    raise NotAnImage("empty image")
                if width * height > max_pixels:
                    logger.info("image of %dx%d pixels: stored without a thumbnail", width, height)
                    return ImageInfo(None, None, None, None)
                image.load()
                return _thumbnail(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            return ImageInfo(None, None, None, None)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise NotAnImage(str(exc)) from exc
        finally:
            fileobj.seek(0)


def _thumbnail(image: Image.Image) -> ImageInfo:
    image.seek(0)  # the first frame of an animation
    try:
        oriented = ImageOps.exif_transpose(image)
    except (struct.error, ValueError, TypeError, KeyError, OSError, SyntaxError):
        # Metadata Pillow cannot write back (a tag of the wrong type): the
        # picture is fine, shown as stored rather than turned.
        logger.info("image with unreadable EXIF orientation: not rotated")
        oriented = image
    width, height = oriented.size
    has_alpha = oriented.mode in ("RGBA", "LA", "PA") or (oriented.mode == "P" and "transparency" in oriented.info)
    thumb = oriented.convert("RGBA" if has_alpha else "RGB")
    thumb.thumbnail(THUMBNAIL_BOX, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if has_alpha:
        thumb.save(out, "PNG", optimize=True)
        ext = "png"
    else:
        thumb.save(out, "JPEG", quality=82, optimize=True)
        ext = "jpg"
    return ImageInfo(width, height, out.getvalue(), ext)


THUMBNAIL_TYPES = {"png": "image/png", "jpg": "image/jpeg"}


def thumbnail_mime(key: str) -> str:
    return THUMBNAIL_TYPES.get(key.rsplit(".", 1)[-1], OCTET_STREAM)
