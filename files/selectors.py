"""Reads about files, and the access rules for them."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser as User
from django.db.models import Sum
from django.utils.translation import gettext

from chatsite.errors import Invalid, NotFound
from chatsite.wire import parse_uuid
from files import access
from files.models import File


def file_url(file: File) -> str:
    return f"/api/v1/files/{file.uuid}/content"


def thumbnail_url(file: File) -> str | None:
    return f"/api/v1/files/{file.uuid}/thumbnail" if file.thumbnail_key else None


def avatar_url(file: File | None) -> str | None:
    """Avatars are files any signed-in user may load."""
    return file_url(file) if file is not None else None


def resolve_avatar_file(*, user: User, file_id: object) -> File | None:
    """A File the user uploaded, to be used as an avatar (null clears it)."""
    if file_id is None:
        return None
    uid = parse_uuid(file_id)
    if uid is None:
        raise Invalid.field("avatar", gettext("Must be a file id."))
    file = File.objects.filter(uuid=uid, owner=user).first()
    if file is None:
        raise Invalid.field("avatar", gettext("No such file of yours."))
    if not file.mime.startswith("image/") or file.width is None:
        raise Invalid.field("avatar", gettext("An avatar must be an image."))
    return file


def access_file(*, user: User, file_id: object) -> File:
    """The file with this id if the user may read it; missing and forbidden
    both raise NotFound, so a file's existence never leaks."""
    uid = parse_uuid(file_id)
    if uid is None:
        raise NotFound(gettext("No such file."))
    file = File.objects.filter(uuid=uid).first()
    if file is None or not access.may_read_file(user=user, file=file):
        raise NotFound(gettext("No such file."))
    return file


def get_storage_used(*, user: User) -> int:
    """Bytes of files the user has stored (what the quota counts)."""
    return File.objects.filter(owner_id=user.pk).aggregate(total=Sum("size"))["total"] or 0
