"""manage.py cleanup_files: unattached files go after the grace period, with
their thumbnails; anything sent or used as an avatar stays."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from files import services
from files.models import File
from files.tests.conftest import image_bytes, send_file

pytestmark = pytest.mark.django_db

DAY = 24 * 3600


def store(owner, name: str, data: bytes, *, age_s: int = 2 * DAY) -> File:
    file = services.do_upload_file(owner=owner, upload=SimpleUploadedFile(name, data))
    File.objects.filter(pk=file.pk).update(created_at=timezone.now() - timedelta(seconds=age_s))
    file.refresh_from_db()
    return file


def blobs(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("cleanup_files", *args, stdout=out)
    return out.getvalue().strip()


def test_old_unattached_files_go_with_their_thumbnails(alice, media):
    photo = store(alice, "p.png", image_bytes("PNG", (50, 50)))
    assert blobs(media) == {photo.storage_key, photo.thumbnail_key}
    assert run() == "removed 1 unattached file(s)"
    assert not File.objects.exists() and blobs(media) == set()


def test_what_is_used_or_recent_stays(alice, bob, direct, group_factory, media):
    sent = store(alice, "sent.txt", b"sent")
    send_file(conversation=direct, sender=alice, file=sent)
    assert File.objects.get(pk=sent.pk).attached_at is not None
    # Carried by a message although never marked (rows from before the mark).
    carried = store(alice, "carried.txt", b"carried")
    send_file(conversation=direct, sender=alice, file=carried)
    File.objects.filter(pk=carried.pk).update(attached_at=None)
    avatar = store(alice, "me.png", image_bytes("PNG", (8, 8)))
    alice.avatar = avatar
    alice.save(update_fields=["avatar"])
    group, _ = group_factory(alice, bob)
    group_avatar = store(alice, "g.png", image_bytes("PNG", (8, 8)))
    group.avatar = group_avatar
    group.save(update_fields=["avatar"])
    marked = store(bob, "marked.txt", b"marked")
    services.mark_attached(file=marked)
    recent = store(bob, "recent.txt", b"recent", age_s=60)
    doomed = store(bob, "doomed.txt", b"doomed")
    kept = {sent, carried, avatar, group_avatar, marked, recent}

    assert run("--dry-run") == "would remove 1 unattached file(s)"
    assert File.objects.count() == 7
    assert run() == "removed 1 unattached file(s)"
    assert set(File.objects.all()) == kept
    assert doomed.storage_key not in blobs(media)
    assert {f.storage_key for f in kept} <= blobs(media)
    assert run() == "removed 0 unattached file(s)"


def test_the_grace_period_is_a_setting_and_an_option(alice, settings):
    store(alice, "a.txt", b"a", age_s=3600)
    settings.FILE_UNATTACHED_GRACE_S = 2 * 3600
    assert run() == "removed 0 unattached file(s)"
    assert run("--grace-seconds", "1800") == "removed 1 unattached file(s)"


def test_many_files_go_in_batches(alice, media):
    for n in range(5):
        store(alice, f"{n}.txt", f"file {n}".encode())
    assert run("--batch", "2") == "removed 5 unattached file(s)"
    assert not File.objects.exists() and blobs(media) == set()


def test_a_blob_already_gone_does_not_stop_the_cleanup(alice, media):
    file = store(alice, "a.txt", b"a")
    (media / file.storage_key).unlink()
    assert run() == "removed 1 unattached file(s)"
    assert not File.objects.exists()


def test_mark_attached_is_idempotent(alice):
    file = store(alice, "a.txt", b"a")
    services.mark_attached(file=file)
    first = File.objects.get(pk=file.pk).attached_at
    services.mark_attached(file=File.objects.get(pk=file.pk))
    assert first is not None and File.objects.get(pk=file.pk).attached_at == first
