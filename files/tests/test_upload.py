"""POST /api/v1/files: storage, sniffing, thumbnails, limits and refusals."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from PIL import Image

from conftest import login_tokens
from files.models import File
from files.tests.conftest import HTML, SVG, image_bytes, png_header_only, upload

pytestmark = pytest.mark.django_db

ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + b"\x02\x00>\x00" + b"\x00" * 200
KEY = re.compile(r"^f/\d{4}/\d{2}/[0-9a-f]{32}$")


def stored_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def error(response) -> dict:
    return response.json()["error"]


def test_an_image_is_stored_under_a_server_key_with_a_thumbnail(api, alice, media):
    data = image_bytes("PNG", (640, 480))
    response = upload(api, "../../holiday photo.png", data, "text/html")
    assert response.status_code == 201, response.content
    file = File.objects.get()
    assert response.json() == {
        "id": str(file.uuid),
        "name": "holiday photo.png",
        "size": len(data),
        "mime": "image/png",
        "url": f"/api/v1/files/{file.uuid}/content",
        "thumbnail_url": f"/api/v1/files/{file.uuid}/thumbnail",
        "width": 640,
        "height": 480,
    }
    assert file.owner == alice and file.attached_at is None
    assert KEY.match(file.storage_key) and "holiday" not in file.storage_key
    assert file.thumbnail_key == file.storage_key + ".thumb.jpg"
    assert file.sha256 == hashlib.sha256(data).hexdigest()
    assert stored_files(media) == sorted([file.storage_key, file.thumbnail_key])
    assert (media / file.storage_key).read_bytes() == data
    with Image.open(media / file.thumbnail_key) as thumb:
        assert thumb.format == "JPEG" and thumb.size == (320, 240)


@pytest.mark.parametrize("fmt, mime", [("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")])
def test_every_image_type_gets_a_thumbnail(api, fmt, mime):
    response = upload(api, "x.bin", image_bytes(fmt, (100, 60)))
    body = response.json()
    assert response.status_code == 201
    assert (body["mime"], body["width"], body["height"]) == (mime, 100, 60)
    assert body["thumbnail_url"] is not None


def test_an_animated_gif_gets_a_thumbnail_of_its_first_frame(api, media):
    frames = [Image.new("RGB", (80, 40), colour) for colour in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    response = upload(api, "anim.gif", out.getvalue())
    assert response.status_code == 201 and response.json()["mime"] == "image/gif"
    with Image.open(media / File.objects.get().thumbnail_key) as thumb:
        assert thumb.getpixel((10, 10))[0] > 200  # red, the first frame


def test_html_named_png_is_stored_as_html_without_a_thumbnail(api):
    response = upload(api, "cat.png", HTML, "image/png")
    assert response.status_code == 201
    body = response.json()
    assert body["mime"] == "text/html" and body["thumbnail_url"] is None
    assert "width" not in body and "height" not in body
    assert body["name"] == "cat.png"


def test_a_png_polyglot_is_an_image_and_nothing_else(api, media):
    data = image_bytes("PNG", (20, 20)) + HTML
    response = upload(api, "poly.html", data, "text/html")
    assert response.status_code == 201
    assert response.json()["mime"] == "image/png" and response.json()["width"] == 20
    # Kept byte for byte; served as an image only (see test_download).
    assert (media / File.objects.get().storage_key).read_bytes() == data


def test_svg_is_stored_as_svg_without_a_thumbnail(api):
    response = upload(api, "logo.svg", SVG, "image/svg+xml")
    assert response.status_code == 201
    assert response.json()["mime"] == "image/svg+xml" and response.json()["thumbnail_url"] is None


def test_a_file_that_claims_to_be_an_image_but_is_not_is_stored_as_bytes(api):
    response = upload(api, "broken.png", image_bytes("PNG")[:60], "image/png")
    assert response.status_code == 201
    assert response.json()["mime"] == "application/octet-stream" and response.json()["thumbnail_url"] is None


def test_a_decompression_bomb_is_stored_without_thumbnail_or_size(api):
    response = upload(api, "bomb.png", png_header_only(40_000, 40_000))
    assert response.status_code == 201
    body = response.json()
    assert body["mime"] == "image/png" and body["thumbnail_url"] is None and "width" not in body


def test_the_display_name_is_sanitised(api):
    response = upload(api, "\u202egnp.exe", b"hello")
    assert response.status_code == 201 and response.json()["name"] == "gnp.exe"


@pytest.mark.parametrize(
    "name",
    ["Data&center plan.pdf", "Hours&timesheet.xlsx", "Q&A&notes.txt", "Tom &amp; Jerry.txt", "R&D 100%.txt"],
)
def test_a_name_with_an_ampersand_is_kept_as_it_was_sent(api, name):
    """Not read as HTML: "&cent" in a name is no cent sign."""
    response = upload(api, name, b"hello")
    assert response.status_code == 201 and response.json()["name"] == name


def test_a_quote_a_browser_escaped_in_a_name_comes_back_as_a_quote(api):
    """Browsers send `"` in a file name as %22 (and CR, LF as %0D, %0A)."""
    body = (
        b"--BB\r\n"
        b'Content-Disposition: form-data; name="file"; filename="holiday %22best%22 caf\xc3\xa9%0D%0A.png"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
        b"hello\r\n--BB--\r\n"
    )
    response = api.generic("POST", "/api/v1/files", body, content_type="multipart/form-data; boundary=BB")
    assert response.status_code == 201, response.content
    assert response.json()["name"] == 'holiday "best" café.png'


def test_a_photo_whose_metadata_cannot_be_rewritten_is_stored_unturned(api):
    """EXIF with an orientation and a tag of the wrong type (a text where a
    number belongs): Pillow cannot turn it (it writes the metadata back), the
    picture is fine all the same: stored, with its size and a thumbnail."""
    import struct

    tiff = b"II*\x00" + struct.pack("<IH", 8, 2)
    tiff += struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0)  # Orientation: 6 (turned)
    tiff += struct.pack("<HHI", 0x0155, 2, 4) + b"abc\x00"  # SMaxSampleValue as text
    tiff += struct.pack("<I", 0)
    out = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 30)).save(out, "JPEG", exif=b"Exif\x00\x00" + tiff)
    response = upload(api, "photo.jpg", out.getvalue())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["mime"] == "image/jpeg" and (body["width"], body["height"]) == (40, 20)
    assert body["thumbnail_url"]


# --------------------------------------------------------------------------- refusals


def test_anonymous_uploads_are_refused(anon, media):
    response = upload(anon, "a.txt", b"hi")
    assert response.status_code == 401 and error(response)["code"] == "not_authenticated"
    assert stored_files(media) == []


def test_an_empty_file_is_refused(api, media):
    response = upload(api, "empty.txt", b"")
    assert response.status_code == 400
    assert error(response) == {
        "code": "invalid",
        "message": "file: The file is empty.",
        "fields": {"file": ["The file is empty."]},
    }
    assert not File.objects.exists() and stored_files(media) == []


def test_two_files_are_refused(api, media):
    response = api.post(
        "/api/v1/files",
        {"file": [SimpleUploadedFile("a.txt", b"a"), SimpleUploadedFile("b.txt", b"b")]},
    )
    assert response.status_code == 400
    assert error(response)["fields"] == {"file": ["Send exactly one file, in the field `file`."]}
    assert not File.objects.exists() and stored_files(media) == []


def test_a_file_in_another_field_is_refused(api):
    response = upload(api, "a.txt", b"a", field="upload")
    assert response.status_code == 400
    assert error(response)["fields"] == {"file": ["Send exactly one file, in the field `file`."]}


def test_a_form_without_a_file_is_refused(api):
    response = api.post("/api/v1/files", {"caption": "no file"})
    assert response.status_code == 400 and error(response)["code"] == "invalid"


def test_json_is_not_an_upload(api):
    response = api.post("/api/v1/files", {"file": "aGVsbG8="}, format="json")
    assert response.status_code == 415 and error(response)["code"] == "unsupported_media"


def test_an_executable_is_refused(api, media):
    response = upload(api, "setup.jpg", ELF, "image/jpeg")
    assert response.status_code == 415
    assert error(response) == {
        "code": "unsupported_media",
        "message": "Files of type application/x-executable are not accepted.",
    }
    assert not File.objects.exists() and stored_files(media) == []


def test_the_size_limit_is_a_setting(api, settings, media):
    settings.MAX_FILE_BYTES = 1000
    assert upload(api, "fits.bin", b"x" * 1000).status_code == 201
    response = upload(api, "over.bin", b"x" * 1001)
    assert response.status_code == 413
    assert error(response) == {"code": "too_large", "message": "A file may have at most 1000 bytes."}
    assert File.objects.count() == 1 and len(stored_files(media)) == 1


def test_an_oversized_content_length_is_refused_before_reading(api, settings, alice):
    settings.MAX_FILE_BYTES = 1000
    body = encode_multipart(BOUNDARY, {"file": SimpleUploadedFile("a.bin", b"x" * 10)})
    # The client announces a gigabyte: refused without reading the body.
    response = api.generic("POST", "/api/v1/files", body, MULTIPART_CONTENT, CONTENT_LENGTH=str(1024**3))
    assert response.status_code == 413 and error(response)["code"] == "too_large"


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.consumed = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.consumed += len(chunk)
        return chunk

    def readline(self, size=-1):
        chunk = super().readline(size)
        self.consumed += len(chunk)
        return chunk


def _raw_upload(alice, body: bytes, stream):
    from django.core.handlers.wsgi import LimitedStream

    from files.api import UploadView

    request = RequestFactory().generic(
        "POST",
        "/api/v1/files",
        body,
        MULTIPART_CONTENT,
        HTTP_AUTHORIZATION=f"Bearer {login_tokens(alice)['access']}",
    )
    request._stream = LimitedStream(stream, len(body))
    response = UploadView.as_view()(request)
    response.render()
    return response


def test_a_body_over_the_limit_is_refused_before_its_first_byte_is_read(settings, alice, media):
    settings.MAX_FILE_BYTES = 100_000
    body = encode_multipart(BOUNDARY, {"file": SimpleUploadedFile("big.bin", b"y" * (4 * 1024 * 1024))})
    stream = CountingStream(body)
    response = _raw_upload(alice, body, stream)
    assert response.status_code == 413 and response.data["error"]["code"] == "too_large"
    assert stream.consumed == 0
    assert not File.objects.exists() and stored_files(media) == []


def test_the_count_stops_a_file_over_the_limit_while_it_streams(settings, alice, media, tmp_path):
    """A body whose Content-Length is within the limit plus the multipart
    framing allowance, but whose file is over the limit: the parse stops at
    the first chunk past the limit and nothing is kept."""
    settings.MAX_FILE_BYTES = 100_000
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    before = set(tmp_path.iterdir())
    body = encode_multipart(BOUNDARY, {"file": SimpleUploadedFile("big.bin", b"y" * 160_000)})
    stream = CountingStream(body)
    response = _raw_upload(alice, body, stream)
    assert response.status_code == 413
    assert response.data["error"] == {"code": "too_large", "message": "A file may have at most 100000 bytes."}
    assert 100_000 < stream.consumed < len(body)
    assert not File.objects.exists() and stored_files(media) == []
    assert set(tmp_path.iterdir()) == before  # the partial temporary file is gone


def test_the_upload_handler_counts_while_it_streams(settings):
    from django.core.files.uploadhandler import StopFutureHandlers

    from chatsite.errors import Invalid, TooLarge
    from files.uploads import OneFileUploadHandler

    handler = OneFileUploadHandler(limit=10)
    with pytest.raises(StopFutureHandlers):  # no other handler sees the file
        handler.new_file("file", "a.bin", "text/plain", None)
    temp_path = handler.file.temporary_file_path()
    assert handler.receive_data_chunk(b"x" * 6, 0) is None
    with pytest.raises(TooLarge):
        handler.receive_data_chunk(b"x" * 5, 6)
    assert handler.file is None  # the temporary file was closed and removed
    import os

    assert not os.path.exists(temp_path)
    second = OneFileUploadHandler(limit=10)
    with pytest.raises(StopFutureHandlers):
        second.new_file("file", "a.bin", "text/plain", None)
    second.file_complete(0)
    with pytest.raises(Invalid):
        second.new_file("file", "b.bin", "text/plain", None)


def test_the_quota_counts_every_file_of_the_user(api, api_for, bob, settings, media):
    settings.FILE_QUOTA_BYTES_PER_USER = 5000
    assert upload(api, "a.bin", b"a" * 3000).status_code == 201
    response = upload(api, "b.bin", b"b" * 3000)
    assert response.status_code == 413
    assert error(response) == {"code": "too_large", "message": "This file does not fit in your storage quota."}
    assert upload(api, "c.bin", b"c" * 2000).status_code == 201
    full = upload(api, "d.bin", b"d")
    assert full.status_code == 413 and error(full)["message"] == "This file does not fit in your storage quota."
    # Another user has a quota of their own.
    assert upload(api_for(bob), "e.bin", b"e" * 4000).status_code == 201
    assert File.objects.count() == 3 and len(stored_files(media)) == 3


def test_the_quota_is_checked_again_when_the_row_is_written(alice, settings, media):
    """Two uploads that each fit the room left when they started: the second
    to commit is refused, and its blob is removed."""
    from chatsite.errors import TooLarge
    from files import services

    settings.FILE_QUOTA_BYTES_PER_USER = 5000
    first = services.check_upload_allowance(user=alice)
    second = services.check_upload_allowance(user=alice)
    assert first.limit == second.limit == 5000
    services.do_upload_file(owner=alice, upload=SimpleUploadedFile("a.bin", b"a" * 3000))
    with pytest.raises(TooLarge):
        services.do_upload_file(owner=alice, upload=SimpleUploadedFile("b.bin", b"b" * 3000))
    assert File.objects.count() == 1 and len(stored_files(media)) == 1
