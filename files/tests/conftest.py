"""Fixtures for the files tests: a storage of their own, sample files and
helpers to upload and to send a file in a conversation."""

from __future__ import annotations

import struct
import zlib

import pytest

from chatsite.testing import image_bytes  # noqa: F401  (the files tests import it from here)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Every test stores its files under its own temporary MEDIA_ROOT."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "files": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), "base_url": None},
        },
    }
    return root


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels but carries almost no data:
    a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def upload(client, name: str, data: bytes, content_type: str = "application/octet-stream", field: str = "file"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post("/api/v1/files", {field: SimpleUploadedFile(name, data, content_type=content_type)})


def send_file(*, conversation, sender, file, caption: str | None = None):
    """Store a file message the way the worker does (the store step)."""
    import uuid

    from conversations.store import Incoming, store_messages

    [stored] = store_messages(
        [
            Incoming(
                conversation_id=conversation.pk,
                sender_id=sender.pk,
                kind="file",
                text=caption,
                file_id=file.pk,
                client_msg_id=str(uuid.uuid4()),
            )
        ]
    )
    return stored.message


@pytest.fixture
def direct(alice, bob):
    from contacts.models import Contact

    return Contact.objects.get(owner=alice, other=bob).conversation


@pytest.fixture
def group_factory(db):
    """`make(owner, *members)` → a group conversation with those members."""
    from conversations.members import create_group_conversation, join_conversation
    from conversations.models import Role
    from groups.models import Group

    def make(owner, *members, name: str = "team"):
        conversation = create_group_conversation()
        group = Group.objects.create(name=name, owner=owner, member_count=1 + len(members), conversation=conversation)
        for user, role in [(owner, Role.OWNER), *((m, Role.MEMBER) for m in members)]:
            join_conversation(conversation=conversation, user=user, role=role)
        return group, conversation

    return make
