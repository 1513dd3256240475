"""GET /api/v1/files/{id}/content and /thumbnail: who may read, the headers
that keep a browser safe, Range, conditional requests, X-Accel-Redirect."""

from __future__ import annotations

import io
import wave

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from rest_framework.test import APIClient

from files import services
from files.models import File
from files.serving import CSP
from files.tests.conftest import HTML, SVG, image_bytes, send_file

pytestmark = pytest.mark.django_db

NOT_FOUND = {"error": {"code": "not_found", "message": "No such file."}}


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def store(owner, name: str, data: bytes) -> File:
    return services.do_upload_file(owner=owner, upload=SimpleUploadedFile(name, data))


def wav_bytes() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(range(256)) * 100)
    return out.getvalue()


# --------------------------------------------------------------------------- who may read


def test_the_uploader_gets_the_bytes_with_every_header(api, alice):
    data = image_bytes("PNG", (30, 20))
    file = store(alice, "ok.png", data)
    response = api.get(f"/api/v1/files/{file.uuid}/content")
    assert response.status_code == 200
    assert body(response) == data
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == "inline; filename=\"ok.png\"; filename*=UTF-8''ok.png"
    assert response["Content-Length"] == str(len(data))
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == CSP
    assert response["Content-Security-Policy"].startswith("sandbox;")
    assert response["Cache-Control"] == "private, no-cache"
    assert response["Accept-Ranges"] == "bytes"
    assert response["ETag"] == f'"{file.sha256}"'
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"


def test_a_member_of_the_conversation_may_read_once_the_file_is_sent(api_for, alice, bob, carol, direct):
    file = store(alice, "notes.txt", b"for bob")
    url = f"/api/v1/files/{file.uuid}/content"
    assert api_for(bob).get(url).json() == NOT_FOUND  # not sent yet
    send_file(conversation=direct, sender=alice, file=file)
    response = api_for(bob).get(url)
    assert response.status_code == 200 and body(response) == b"for bob"
    stranger = api_for(carol).get(url)
    assert stranger.status_code == 404 and stranger.json() == NOT_FOUND


def test_anonymous_requests_are_refused(anon, alice):
    file = store(alice, "a.txt", b"secret")
    response = anon.get(f"/api/v1/files/{file.uuid}/content")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    thumb = anon.get(f"/api/v1/files/{file.uuid}/thumbnail")
    assert thumb.status_code == 401


@pytest.mark.parametrize(
    "file_id",
    ["00000000-0000-0000-0000-000000000000", "not-a-uuid", "ABCDEF00-0000-0000-0000-000000000000"],
)
def test_unknown_ids_are_not_found(api, file_id):
    response = api.get(f"/api/v1/files/{file_id}/content")
    assert response.status_code == 404 and response.json() == NOT_FOUND


def test_group_members_read_within_their_window(api_for, alice, bob, carol, user_factory, group_factory):
    from conversations.members import join_conversation, leave_conversation

    dave = user_factory("dave")
    group, conversation = group_factory(alice, bob, carol)
    before = store(alice, "before.txt", b"sent while bob was in")
    send_file(conversation=conversation, sender=alice, file=before)
    bob_api, carol_api = api_for(bob), api_for(carol)
    assert bob_api.get(f"/api/v1/files/{before.uuid}/content").status_code == 200
    # bob is removed: he loses the group's files, those sent while he was in too.
    leave_conversation(conversation=conversation, user=bob)
    after = store(alice, "after.txt", b"sent after bob left")
    send_file(conversation=conversation, sender=alice, file=after)
    assert bob_api.get(f"/api/v1/files/{before.uuid}/content").json() == NOT_FOUND
    assert bob_api.get(f"/api/v1/files/{after.uuid}/content").json() == NOT_FOUND
    assert carol_api.get(f"/api/v1/files/{before.uuid}/content").status_code == 200
    assert carol_api.get(f"/api/v1/files/{after.uuid}/content").status_code == 200
    # dave joins later: he reads from his joining on.
    join_conversation(conversation=conversation, user=dave)
    dave_api = api_for(dave)
    assert dave_api.get(f"/api/v1/files/{after.uuid}/content").json() == NOT_FOUND
    late = store(alice, "late.txt", b"for everyone now")
    send_file(conversation=conversation, sender=alice, file=late)
    assert dave_api.get(f"/api/v1/files/{late.uuid}/content").status_code == 200
    # ...and the file sent before, sent again now, is his too.
    send_file(conversation=conversation, sender=carol, file=after)
    assert dave_api.get(f"/api/v1/files/{after.uuid}/content").status_code == 200
    assert bob_api.get(f"/api/v1/files/{after.uuid}/content").json() == NOT_FOUND


def test_a_removed_member_loses_access_at_the_next_request(api_for, alice, bob, carol, group_factory):
    """Access is checked on every request: no grant outlives the membership."""
    from conversations.models import Member

    group, conversation = group_factory(alice, bob)
    file = store(alice, "x.txt", b"x")
    bob_api = api_for(bob)
    send_file(conversation=conversation, sender=alice, file=file)
    assert bob_api.get(f"/api/v1/files/{file.uuid}/content").status_code == 200
    # Removed after the file was sent, while he could read it.
    Member.objects.filter(conversation=conversation, user=bob).update(left_seq=conversation.last_seq + 5)
    assert bob_api.get(f"/api/v1/files/{file.uuid}/content").json() == NOT_FOUND
    assert bob_api.get(f"/api/v1/files/{file.uuid}/thumbnail").status_code == 404


def test_a_recalled_message_grants_nothing(api_for, alice, bob, direct):
    file = store(alice, "oops.txt", b"oops")
    message = send_file(conversation=direct, sender=alice, file=file)
    message.recalled = True
    message.save(update_fields=["recalled"])
    assert api_for(bob).get(f"/api/v1/files/{file.uuid}/content").json() == NOT_FOUND
    assert api_for(alice).get(f"/api/v1/files/{file.uuid}/content").status_code == 200


def test_a_recall_takes_the_file_along_once_it_is_committed(
    api_for, alice, bob, direct, media, monkeypatch, django_capture_on_commit_callbacks
):
    """A recall that fails after removing the file's row rolls back and keeps
    the file whole (before: its bytes were gone, the row and message back,
    and a reader got a 500). One that succeeds removes row and bytes."""
    import messaging.actions.recall as recall

    file = store(alice, "notes.txt", b"hello bob")
    message = send_file(conversation=direct, sender=alice, file=file)

    def fails(**kwargs):
        raise RuntimeError("the database went away while writing the system message")

    with monkeypatch.context() as patch, django_capture_on_commit_callbacks(execute=True):
        patch.setattr(recall, "post_system_message", fails)
        with pytest.raises(RuntimeError):
            with transaction.atomic():  # as a request's: rolled back whole
                recall.do_recall_message(user=alice, message_id=str(message.uuid))
    assert body(api_for(bob).get(f"/api/v1/files/{file.uuid}/content")) == b"hello bob"

    with django_capture_on_commit_callbacks(execute=True):
        recall.do_recall_message(user=alice, message_id=str(message.uuid))
    assert not File.objects.filter(pk=file.pk).exists()
    assert not (media / file.storage_key).exists()


def test_avatars_are_readable_by_any_signed_in_user(api_for, anon, alice, carol):
    from accounts.models import UserStatus

    avatar = store(alice, "me.png", image_bytes("PNG", (64, 64)))
    alice.avatar = avatar
    alice.save(update_fields=["avatar"])
    url = f"/api/v1/files/{avatar.uuid}/content"
    assert api_for(carol).get(url).status_code == 200
    assert api_for(carol).get(f"/api/v1/files/{avatar.uuid}/thumbnail").status_code == 200
    assert anon.get(url).status_code == 401
    alice.status = UserStatus.DISABLED
    alice.save(update_fields=["status"])
    assert api_for(carol).get(url).json() == NOT_FOUND


def test_group_avatars_are_readable_by_any_signed_in_user(api_for, alice, carol, group_factory):
    from groups.models import GroupStatus

    group, _ = group_factory(alice)
    avatar = store(alice, "group.png", image_bytes("PNG", (64, 64)))
    group.avatar = avatar
    group.save(update_fields=["avatar"])
    url = f"/api/v1/files/{avatar.uuid}/content"
    assert api_for(carol).get(url).status_code == 200
    group.status = GroupStatus.DISMISSED
    group.save(update_fields=["status"])
    assert api_for(carol).get(url).json() == NOT_FOUND


def test_the_access_check_is_a_bounded_number_of_queries(
    api_for, alice, bob, group_factory, django_assert_max_num_queries
):
    group, conversation = group_factory(alice, bob)
    file = store(alice, "x.txt", b"x")
    for _ in range(10):
        send_file(conversation=conversation, sender=alice, file=file)
    client = api_for(bob)
    # authentication (session + user), the file, the message rule
    with django_assert_max_num_queries(4):
        assert client.get(f"/api/v1/files/{file.uuid}/content").status_code == 200


# --------------------------------------------------------------------------- how the bytes are served


@pytest.mark.parametrize(
    "name, data, mime",
    [
        ("cat.png", HTML, "text/html"),
        ("logo.svg", SVG, "image/svg+xml"),
        ("doc.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "application/pdf"),
        ("notes.txt", "中文 text".encode(), "text/plain"),
    ],
)
def test_unsafe_types_are_downloads_never_pages(api, alice, name, data, mime):
    file = store(alice, name, data)
    assert file.mime == mime
    response = api.get(f"/api/v1/files/{file.uuid}/content")
    assert response.status_code == 200 and body(response) == data
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment; ")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == CSP


def test_a_png_polyglot_is_served_only_as_an_image(api, alice):
    data = image_bytes("PNG", (20, 20)) + HTML
    file = store(alice, "poly.html", data)
    response = api.get(f"/api/v1/files/{file.uuid}/content")
    assert body(response) == data
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("sandbox;")
    assert response["Content-Disposition"] == "inline; filename=\"poly.html\"; filename*=UTF-8''poly.html"


def test_unicode_names_use_rfc_8187(api, alice):
    file = store(alice, "报告 2026.txt", b"x")
    response = api.get(f"/api/v1/files/{file.uuid}/content")
    assert response["Content-Disposition"] == (
        "attachment; filename=\"__ 2026.txt\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A%202026.txt"
    )


def test_audio_plays_inline_and_seeks_with_range(api, alice):
    data = wav_bytes()
    file = store(alice, "voice.wav", data)
    assert file.mime == "audio/x-wav"
    url = f"/api/v1/files/{file.uuid}/content"
    response = api.get(url, HTTP_RANGE="bytes=100-199")
    assert response.status_code == 206
    assert body(response) == data[100:200]
    assert response["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert response["Content-Length"] == "100"
    assert response["Content-Type"] == "audio/x-wav"
    assert response["Content-Disposition"].startswith("inline; ")
    tail = api.get(url, HTTP_RANGE="bytes=-10")
    assert tail.status_code == 206 and body(tail) == data[-10:]
    assert tail["Content-Range"] == f"bytes {len(data) - 10}-{len(data) - 1}/{len(data)}"
    rest = api.get(url, HTTP_RANGE=f"bytes={len(data) - 5}-")
    assert rest.status_code == 206 and body(rest) == data[-5:]


def test_video_is_inline(api, alice):
    mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x00\x08free" + b"\x00" * 3000
    file = store(alice, "clip.mp4", mp4)
    response = api.get(f"/api/v1/files/{file.uuid}/content", HTTP_RANGE="bytes=0-1023")
    assert file.mime == "video/mp4" and response.status_code == 206
    assert response["Content-Type"] == "video/mp4" and body(response) == mp4[:1024]


def test_an_unsatisfiable_range_is_416(api, alice):
    file = store(alice, "a.bin", b"0123456789")
    response = api.get(f"/api/v1/files/{file.uuid}/content", HTTP_RANGE="bytes=10-20")
    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */10"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("header", ["bytes=0-1,4-5", "lines=1-2", "bytes=5-1"])
def test_ranges_we_do_not_serve_get_the_whole_file(api, alice, header):
    file = store(alice, "a.bin", b"0123456789")
    response = api.get(f"/api/v1/files/{file.uuid}/content", HTTP_RANGE=header)
    assert response.status_code == 200 and body(response) == b"0123456789"


def test_if_range_with_another_etag_sends_the_whole_file(api, alice):
    file = store(alice, "a.bin", b"0123456789")
    url = f"/api/v1/files/{file.uuid}/content"
    stale = api.get(url, HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE='"something-else"')
    assert stale.status_code == 200 and body(stale) == b"0123456789"
    fresh = api.get(url, HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE=f'"{file.sha256}"')
    assert fresh.status_code == 206 and body(fresh) == b"01"


def test_if_none_match_is_304_after_the_access_check(api, api_for, alice, carol):
    file = store(alice, "a.bin", b"0123456789")
    url = f"/api/v1/files/{file.uuid}/content"
    response = api.get(url, HTTP_IF_NONE_MATCH=f'"{file.sha256}"')
    assert response.status_code == 304 and response.content == b""
    assert response["ETag"] == f'"{file.sha256}"' and response["Cache-Control"] == "private, no-cache"
    assert api_for(carol).get(url, HTTP_IF_NONE_MATCH=f'"{file.sha256}"').status_code == 404


def test_head_has_the_headers_and_no_body(api, alice):
    file = store(alice, "a.bin", b"0123456789")
    response = api.head(f"/api/v1/files/{file.uuid}/content")
    assert response.status_code == 200 and response.content == b""
    assert response["Content-Length"] == "10" and response["Accept-Ranges"] == "bytes"


def test_any_accept_header_gets_the_bytes(api, alice):
    file = store(alice, "a.png", image_bytes("PNG", (8, 8)))
    response = api.get(f"/api/v1/files/{file.uuid}/content", HTTP_ACCEPT="image/avif,image/webp")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"


def test_the_web_pages_cookie_session_works(alice, bob, direct):
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.actions.sessions import Client, do_web_login

    session = do_web_login(user=bob, client=Client(ip="127.0.0.1"))
    store_ = SessionStore()
    store_["login_session"] = str(session.uuid)
    store_.create()
    browser = APIClient(enforce_csrf_checks=True)
    browser.cookies["sessionid"] = store_.session_key
    file = store(alice, "a.txt", b"hello bob")
    send_file(conversation=direct, sender=alice, file=file)
    response = browser.get(f"/api/v1/files/{file.uuid}/content")
    assert response.status_code == 200 and body(response) == b"hello bob"
    # An upload from the page needs the CSRF token, and the size limit holds
    # although the CSRF check is what parses the form.
    refused = browser.post("/api/v1/files", {"file": SimpleUploadedFile("b.txt", b"b")})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    import secrets

    token = secrets.token_hex(16)  # a CSRF secret: the cookie and the header agree
    browser.cookies["csrftoken"] = token
    ok = browser.post("/api/v1/files", {"file": SimpleUploadedFile("b.txt", b"b")}, HTTP_X_CSRFTOKEN=token)
    assert ok.status_code == 201, ok.content
    from django.test import override_settings

    with override_settings(MAX_FILE_BYTES=10):
        big = browser.post("/api/v1/files", {"file": SimpleUploadedFile("c.txt", b"c" * 11)}, HTTP_X_CSRFTOKEN=token)
    assert big.status_code == 413


# --------------------------------------------------------------------------- thumbnails


def test_thumbnails_follow_the_same_rules(api_for, alice, bob, carol, direct):
    file = store(alice, "big.jpg", image_bytes("JPEG", (1000, 500)))
    url = f"/api/v1/files/{file.uuid}/thumbnail"
    owner = api_for(alice).get(url)
    assert owner.status_code == 200
    assert owner["Content-Type"] == "image/jpeg"
    assert owner["Content-Disposition"] == "inline; filename=\"big.thumb.jpg\"; filename*=UTF-8''big.thumb.jpg"
    assert owner["X-Content-Type-Options"] == "nosniff" and owner["Content-Security-Policy"] == CSP
    from PIL import Image

    with Image.open(io.BytesIO(body(owner))) as thumb:
        assert thumb.size == (320, 160)
    assert api_for(bob).get(url).json() == NOT_FOUND
    send_file(conversation=direct, sender=alice, file=file)
    assert api_for(bob).get(url).status_code == 200
    assert api_for(carol).get(url).json() == NOT_FOUND


def test_a_file_without_a_thumbnail_has_none_to_serve(api, alice):
    file = store(alice, "a.txt", b"text")
    response = api.get(f"/api/v1/files/{file.uuid}/thumbnail")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "This file has no thumbnail."}}


# --------------------------------------------------------------------------- a front proxy sends the bytes


def test_x_accel_redirect_hands_the_bytes_to_nginx(api, api_for, alice, carol, settings):
    settings.FILE_ACCEL_REDIRECT_PREFIX = "/protected-files/"
    file = store(alice, "a.svg", SVG)
    response = api.get(f"/api/v1/files/{file.uuid}/content")
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == f"/protected-files/{file.storage_key}"
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment; ")
    assert response["X-Content-Type-Options"] == "nosniff" and response["Content-Security-Policy"] == CSP
    assert response["Cache-Control"] == "private, no-cache"
    thumb = store(alice, "p.png", image_bytes("PNG", (40, 40)))
    assert api.get(f"/api/v1/files/{thumb.uuid}/thumbnail")["X-Accel-Redirect"] == (
        f"/protected-files/{thumb.thumbnail_key}"
    )
    # The access check still runs first.
    assert api_for(carol).get(f"/api/v1/files/{file.uuid}/content").json() == NOT_FOUND


# --------------------------------------------------------------------------- under ASGI (AsyncClient)


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_bytes_stream_and_ranges_work(alice, recwarn):
    from asgiref.sync import sync_to_async
    from django.test import AsyncClient

    from conftest import login_tokens

    data = bytes(range(256)) * 4096  # 1 MiB: several chunks
    file = await sync_to_async(store)(alice, "big.bin", data)
    token = (await sync_to_async(login_tokens)(alice))["access"]
    client, auth = AsyncClient(), {"authorization": f"Bearer {token}"}
    response = await client.get(f"/api/v1/files/{file.uuid}/content", headers=auth)
    assert response.status_code == 200, response.content
    assert response.is_async
    chunks = [chunk async for chunk in response.streaming_content]
    assert b"".join(chunks) == data and len(chunks) > 1
    ranged = await client.get(f"/api/v1/files/{file.uuid}/content", headers={**auth, "range": "bytes=1000-1999"})
    assert ranged.status_code == 206
    assert b"".join([c async for c in ranged.streaming_content]) == data[1000:2000]
    # Streamed as it is read, never collected into a list first.
    assert not [w for w in recwarn if "StreamingHttpResponse must consume" in str(w.message)]
