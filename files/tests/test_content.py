"""Display names, type sniffing, image inspection, Content-Disposition and Range parsing."""

from __future__ import annotations

import io

import pytest

from files import content
from files.serving import content_disposition, parse_range
from files.tests.conftest import HTML, SVG, image_bytes, png_header_only


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("photo.png", "photo.png"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\x.dll", "x.dll"),
        ("/absolute/path/a.txt", "a.txt"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("a.png\x00.html", "a.png.html"),
        ("line\r\nbreak.txt", "linebreak.txt"),
        ("\u202egnp.exe", "gnp.exe"),
        ("in\u2066vis\u2069ible\u200b.txt", "invisible.txt"),
        ("ｆｕｌｌ／ｗｉｄｔｈ.txt", "width.txt"),
        ("ﬁle.txt", "file.txt"),
        ('quote".txt', 'quote".txt'),
        ("家庭👨‍👩‍👧.jpg", "家庭👨\u200d👩\u200d👧.jpg"),
        ("", "file"),
        ("..", "file"),
        ("  . ", "file"),
        (None, "file"),
    ],
)
def test_display_names_are_sanitised(raw, expected):
    assert content.clean_display_name(raw) == expected


def test_long_names_are_cut_keeping_the_extension():
    name = content.clean_display_name("x" * 300 + ".jpeg")
    assert len(name) == content.NAME_MAX and name.endswith("x.jpeg")
    assert len(content.clean_display_name("y" * 300)) == content.NAME_MAX


@pytest.mark.parametrize(
    "data, mime",
    [
        (image_bytes("PNG"), "image/png"),
        (image_bytes("JPEG"), "image/jpeg"),
        (image_bytes("GIF"), "image/gif"),
        (image_bytes("WEBP"), "image/webp"),
        (HTML, "text/html"),
        (SVG, "image/svg+xml"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "application/pdf"),
        ("plain text, 中文\n".encode(), "text/plain"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + b"\x02\x00>\x00" + b"\x00" * 200, "application/x-executable"),
    ],
)
def test_types_come_from_the_bytes(data, mime):
    assert content.sniff_mime(head=data) == mime


def test_refused_types_follow_the_setting(settings):
    assert content.is_refused("application/x-dosexec")
    assert not content.is_refused("text/html")
    settings.FILE_REFUSED_MIME_TYPES = ["text/html"]
    assert content.is_refused("text/html") and not content.is_refused("application/x-dosexec")


def test_an_image_gets_its_size_and_a_thumbnail():
    info = content.inspect_image(io.BytesIO(image_bytes("JPEG", (1200, 900))), mime="image/jpeg")
    assert (info.width, info.height, info.thumbnail_ext) == (1200, 900, "jpg")
    from PIL import Image

    with Image.open(io.BytesIO(info.thumbnail)) as thumb:
        assert thumb.format == "JPEG" and thumb.size == (320, 240)


def test_a_transparent_image_gets_a_png_thumbnail():
    info = content.inspect_image(io.BytesIO(image_bytes("PNG", (50, 100), mode="RGBA")), mime="image/png")
    assert (info.width, info.height, info.thumbnail_ext) == (50, 100, "png")


def test_exif_rotation_is_applied_to_size_and_thumbnail():
    from PIL import Image

    image = Image.new("RGB", (400, 200), "blue")
    exif = image.getexif()
    exif[0x0112] = 6  # rotated 90° clockwise
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    info = content.inspect_image(out, mime="image/jpeg")
    assert (info.width, info.height) == (200, 400)
    with Image.open(io.BytesIO(info.thumbnail)) as thumb:
        assert thumb.size == (160, 320)


def test_a_decompression_bomb_is_not_decoded():
    bomb = png_header_only(40_000, 40_000)  # 1.6 gigapixels in a few hundred bytes
    assert len(bomb) < 1000
    info = content.inspect_image(io.BytesIO(bomb), mime="image/png")
    assert info == content.ImageInfo(None, None, None, None)


def test_the_pixel_limit_is_a_setting(settings):
    settings.FILE_IMAGE_MAX_PIXELS = 100
    info = content.inspect_image(io.BytesIO(image_bytes("PNG", (11, 10))), mime="image/png")
    assert info.thumbnail is None and info.width is None


@pytest.mark.parametrize(
    "data, mime",
    [
        (image_bytes("PNG")[:60], "image/png"),  # truncated
        (b"\xff\xd8\xff\xe0" + b"not a jpeg at all" * 10, "image/jpeg"),
        (image_bytes("PNG"), "image/gif"),  # the type must match the bytes
    ],
)
def test_bytes_that_do_not_decode_are_not_an_image(data, mime):
    with pytest.raises(content.NotAnImage):
        content.inspect_image(io.BytesIO(data), mime=mime)


@pytest.mark.parametrize(
    "kind, name, expected",
    [
        ("attachment", "report.pdf", "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"),
        (
            "inline",
            "照片 1.png",
            "inline; filename=\"__ 1.png\"; filename*=UTF-8''%E7%85%A7%E7%89%87%201.png",
        ),
        (
            "attachment",
            'a"b\\c;d%e.txt',
            "attachment; filename=\"a_b_c;d_e.txt\"; filename*=UTF-8''a%22b%5Cc%3Bd%25e.txt",
        ),
    ],
)
def test_content_disposition_has_both_filename_forms(kind, name, expected):
    assert content_disposition(kind, name) == expected


@pytest.mark.parametrize(
    "header, expected",
    [
        (None, None),
        ("bytes=0-99", (0, 100)),
        ("bytes=100-", (100, 900)),
        ("bytes=-100", (900, 100)),
        ("bytes=-5000", (0, 1000)),
        ("bytes=990-5000", (990, 10)),
        ("bytes=999-999", (999, 1)),
        ("bytes=1000-", False),
        ("bytes=5000-6000", False),
        ("bytes=-0", False),
        ("bytes=0-1,5-6", None),  # several ranges: the whole file
        ("bytes=5-1", None),
        ("items=0-1", None),
        ("bytes=-", None),
        ("bytes=abc", None),
    ],
)
def test_range_parsing(header, expected):
    assert parse_range(header, 1000) == expected
