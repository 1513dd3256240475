"""Reads about files, and the access rules for them."""

from __future__ import annotations

from accounts.models import User
from chatsite.errors import Invalid
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


def may_read_file(*, user: User, file: File) -> bool:
    """The uploader, and members (current or former, within what they may read)
    of a conversation the file was sent in. Checked on every access."""
    if file.owner_id == user.pk:
        return True
    from django.db.models import Q

    from messaging.models import ConversationMember, Message

    sent_in = Message.objects.filter(file=file, recalled=False).values_list("conversation_id", "seq")
    for conversation_id, seq in sent_in:
        if ConversationMember.objects.filter(
            Q(left_seq__isnull=True) | Q(left_seq__gte=seq),
            conversation_id=conversation_id,
            user=user,
            visible_from_seq__lt=seq,
        ).exists():
            return True
    return False
