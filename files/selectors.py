"""Reads about files, and the access rules for them."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Sum

from accounts.models import User, UserStatus
from chatsite.errors import Invalid, NotFound
from chatsite.wire import parse_uuid
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
        raise Invalid.field("avatar", "Must be a file id.")
    file = File.objects.filter(uuid=uid, owner=user).first()
    if file is None:
        raise Invalid.field("avatar", "No such file of yours.")
    if not file.mime.startswith("image/") or file.width is None:
        raise Invalid.field("avatar", "An avatar must be an image.")
    return file


def is_avatar(file: File) -> bool:
    """The file is the avatar of an active user or an active group."""
    from groups.models import Group, GroupStatus

    return (
        User.objects.filter(avatar_id=file.pk, status=UserStatus.ACTIVE).exists()
        or Group.objects.filter(avatar_id=file.pk, status=GroupStatus.ACTIVE).exists()
    )


def may_read_file(*, user: User, file: File) -> bool:
    """Who may load a file; checked on every access, so a change of
    membership takes effect at the next request:

    - its uploader;
    - a current member of a conversation where a (not recalled) message
      carries it, sent since they joined (`visible_from_seq < seq`). A member
      who leaves or is removed loses access to the group's files at once,
      even those sent while they were in (the issue's rule: "a removed member
      loses access"), though the history keeps showing the messages;
    - any signed-in user when it is an active user's or group's avatar.

    Two queries at most, whatever the number of messages carrying the file."""
    if not user.is_authenticated:
        return False
    if file.owner_id == user.pk:
        return True
    from messaging.models import ConversationMember, Message

    in_window = ConversationMember.objects.filter(
        left_seq__isnull=True,
        conversation_id=OuterRef("conversation_id"),
        user_id=user.pk,
        visible_from_seq__lt=OuterRef("seq"),
    )
    if Message.objects.filter(file_id=file.pk, recalled=False).filter(Exists(in_window)).exists():
        return True
    return is_avatar(file)


def access_file(*, user: User, file_id: object) -> File:
    """The file with this id if the user may read it; missing and forbidden
    both raise NotFound, so a file's existence never leaks."""
    uid = parse_uuid(file_id)
    if uid is None:
        raise NotFound("No such file.")
    file = File.objects.filter(uuid=uid).first()
    if file is None or not may_read_file(user=user, file=file):
        raise NotFound("No such file.")
    return file


def get_storage_used(*, user: User) -> int:
    """Bytes of files the user has stored (what the quota counts)."""
    return File.objects.filter(owner_id=user.pk).aggregate(total=Sum("size"))["total"] or 0
