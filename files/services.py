"""Writes about files: storing an upload, marking a file as used, and removing
files nobody used."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser as User
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from chatsite.errors import Invalid, UnsupportedMedia
from files import access, content, storage
from files.models import File
from files.selectors import get_storage_used
from files.uploads import too_large

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadAllowance:
    """How many bytes the next upload of a user may have."""

    limit: int
    quota_bound: bool


def check_upload_allowance(*, user: User) -> UploadAllowance:
    """The most bytes a user's next file may have: MAX_FILE_BYTES, or the room
    left in FILE_QUOTA_BYTES_PER_USER when that is less. Raises TooLarge when
    the quota is already full. Writes nothing."""
    limit = settings.MAX_FILE_BYTES
    quota = settings.FILE_QUOTA_BYTES_PER_USER
    if not quota:
        return UploadAllowance(limit=limit, quota_bound=False)
    room = quota - get_storage_used(user=user)
    if room <= 0:
        raise too_large(limit, quota=True)
    if room < limit:
        return UploadAllowance(limit=room, quota_bound=True)
    return UploadAllowance(limit=limit, quota_bound=False)


def do_upload_file(*, owner: User, upload: UploadedFile) -> File:
    """Store one uploaded file for `owner` and return its File row.

    Guarantees: the file is non-empty and within MAX_FILE_BYTES and the
    owner's quota (checked again under a lock on the owner's row, so two
    concurrent uploads cannot both overrun it); its type is sniffed from the
    bytes, and a refused type (FILE_REFUSED_MIME_TYPES) raises UnsupportedMedia;
    it is stored under a server-generated key, the client's name kept only as
    a sanitised display name. PNG, JPEG, GIF and WebP images get width, height
    and a thumbnail; a file that starts like one of those but does not decode
    is stored as application/octet-stream. Nothing is left in storage when
    any step fails."""
    size = upload.size or 0
    if size <= 0:
        raise Invalid.field("file", gettext("The file is empty."))
    if size > settings.MAX_FILE_BYTES:
        raise too_large(settings.MAX_FILE_BYTES)
    name = content.clean_display_name(upload.name)
    path = upload.temporary_file_path() if hasattr(upload, "temporary_file_path") else None
    if path is not None:
        mime = content.sniff_mime(path=path)
    else:
        upload.seek(0)
        mime = content.sniff_mime(head=upload.read(content.SNIFF_BYTES))
    if content.is_refused(mime):
        logger.info("user %s: refused an upload of type %s", owner.pk, mime)
        raise UnsupportedMedia(gettext("Files of type %(mime)s are not accepted.") % {"mime": mime})
    sha256 = getattr(upload, "sha256", None) or _sha256(upload)

    width = height = None
    thumbnail: bytes | None = None
    thumbnail_ext = None
    if mime in content.IMAGE_TYPES:
        try:
            info = content.inspect_image(upload, mime=mime)
        except content.NotAnImage as exc:
            logger.info("user %s: a %s upload does not decode (%s); stored as bytes", owner.pk, mime, exc)
            mime = content.OCTET_STREAM
        else:
            width, height, thumbnail, thumbnail_ext = info.width, info.height, info.thumbnail, info.thumbnail_ext

    upload.seek(0)
    key = storage.save(storage.new_key(), upload)
    thumbnail_key = ""
    try:
        if thumbnail is not None:
            thumbnail_key = storage.save(f"{key}.thumb.{thumbnail_ext}", thumbnail)
        with transaction.atomic():
            # The owner's row lock serialises this user's uploads for the
            # quota sum; other users are not held up.
            get_user_model().objects.select_for_update().filter(pk=owner.pk).values_list("pk", flat=True).get()
            quota = settings.FILE_QUOTA_BYTES_PER_USER
            if quota and get_storage_used(user=owner) + size > quota:
                raise too_large(settings.MAX_FILE_BYTES, quota=True)
            file = File.objects.create(
                owner=owner,
                name=name,
                size=size,
                mime=mime,
                storage_key=key,
                sha256=sha256,
                thumbnail_key=thumbnail_key,
                width=width,
                height=height,
            )
    except BaseException:
        _delete_quietly(key, thumbnail_key)
        raise
    logger.info("user %s uploaded file %s (%s, %d bytes)", owner.pk, file.uuid, mime, size)
    return file


def _sha256(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _delete_quietly(*keys: str) -> None:
    try:
        storage.delete(*keys)
    except Exception:
        logger.exception("could not delete blobs %s", [k for k in keys if k])


def delete_file(*, file: File) -> None:
    """Remove a file for good: its row (messages that carried it keep a null
    file), then its blobs (file and thumbnail) once that is committed, so a
    recall that fails later and rolls back keeps the file whole. Used when the
    one message that carried it is recalled."""
    keys = (file.storage_key, file.thumbnail_key)
    File.objects.filter(pk=file.pk).delete()
    transaction.on_commit(lambda: _delete_quietly(*keys))


def mark_attached(*, file: File) -> None:
    """The file is in use (made an avatar, say): the cleanup keeps it for good.
    Idempotent; the message store marks files sent in messages itself."""
    if file.attached_at is None:
        now = timezone.now()
        File.objects.filter(pk=file.pk, attached_at__isnull=True).update(attached_at=now)
        file.attached_at = now


def _unattached(queryset):
    return queryset.filter(attached_at__isnull=True).exclude(access.held())


def list_unattached_files(*, older_than: datetime, limit: int) -> list[File]:
    """Files created before `older_than` that were never marked attached and
    that nothing holds (no message carries it, it is nobody's avatar: see
    files.access); oldest first."""
    return list(_unattached(File.objects.filter(created_at__lt=older_than)).order_by("created_at", "pk")[:limit])


def do_remove_unattached_files(*, grace_s: int | None = None, batch: int = 200, dry_run: bool = False) -> int:
    """Remove files older than the grace period (FILE_UNATTACHED_GRACE_S) that
    were never attached to a message nor made an avatar: their blobs (file
    and thumbnail), then their rows. Returns how many were (or, with
    `dry_run`, would be) removed.

    Each batch locks its rows and checks them again under the lock, so a file
    sent at that very moment is kept (or its send waits and fails cleanly).
    Blobs go before rows inside the transaction: a failure leaves the row,
    which the next run removes, never an orphaned blob."""
    grace = settings.FILE_UNATTACHED_GRACE_S if grace_s is None else grace_s
    older_than = timezone.now() - timedelta(seconds=grace)
    if dry_run:
        return _unattached(File.objects.filter(created_at__lt=older_than)).count()
    removed = 0
    while True:
        with transaction.atomic():
            ids = [f.pk for f in list_unattached_files(older_than=older_than, limit=batch)]
            if not ids:
                return removed
            locked = list(File.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
            still = set(_unattached(File.objects.filter(pk__in=ids)).values_list("pk", flat=True))
            doomed = [f for f in locked if f.pk in still]
            for file in doomed:
                storage.delete(file.storage_key, file.thumbnail_key)
            File.objects.filter(pk__in=[f.pk for f in doomed]).delete()
        removed += len(doomed)
        logger.info("removed %d unattached files", len(doomed))
        if len(ids) < batch:
            return removed
