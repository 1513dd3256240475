"""The blobs: Django's storage API, alias "files" (settings.STORAGES).

Keys are made here and only here: `f/<yyyy>/<mm>/<32 random hex>`, never
anything the client sent, so a name can never become a path.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import IO

from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages
from django.utils import timezone

logger = logging.getLogger(__name__)

CHUNK = 256 * 1024


def files_storage() -> Storage:
    return storages["files"]


def new_key() -> str:
    now = timezone.now()
    return f"f/{now:%Y}/{now:%m}/{secrets.token_hex(16)}"


def save(key: str, content: File | IO[bytes] | bytes) -> str:
    """Store `content` under `key`; returns the key actually used (a storage
    may change it rather than overwrite, which never happens with random keys)."""
    if isinstance(content, bytes):
        content = ContentFile(content)
    elif not isinstance(content, File):
        content = File(content)
    return files_storage().save(key, content)


def delete(*keys: str) -> None:
    """Delete blobs; a missing one is not an error. Failures are logged and
    raised (the caller keeps the row, so the next cleanup tries again)."""
    storage = files_storage()
    for key in keys:
        if key:
            storage.delete(key)


def _s3_object(storage: Storage, key: str):
    """The boto3 Object of a key when the storage is django-storages' S3."""
    bucket = getattr(storage, "bucket", None)
    if bucket is None or not hasattr(storage, "_normalize_name"):
        return None
    return bucket.Object(storage._normalize_name(key))


def read_range(key: str, start: int, length: int) -> Iterator[bytes]:
    """The bytes [start, start + length) of a blob, in chunks. With S3 this is
    one ranged GET streamed from the bucket (django-storages' own File would
    download the whole object first)."""
    if length <= 0:
        return
    storage = files_storage()
    s3_object = _s3_object(storage, key)
    if s3_object is not None:
        body = s3_object.get(Range=f"bytes={start}-{start + length - 1}")["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()
        return
    with storage.open(key, "rb") as handle:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            data = handle.read(min(CHUNK, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data


async def aread_range(key: str, start: int, length: int) -> AsyncIterator[bytes]:
    """read_range for ASGI: each chunk is read in a worker thread, so a large
    file is streamed, never collected in memory first."""
    iterator = read_range(key, start, length)
    step = sync_to_async(lambda: next(iterator, None), thread_sensitive=False)
    try:
        while True:
            chunk = await step()
            if chunk is None:
                return
            yield chunk
    finally:
        await sync_to_async(iterator.close, thread_sensitive=False)()


def exists(key: str) -> bool:
    return files_storage().exists(key)
