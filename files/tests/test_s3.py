"""FILE_STORAGE=s3: the same upload, download, Range and cleanup against an
S3 bucket (moto's in-process S3: the bucket is outside the product), and the
settings that configure it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from files import services
from files.models import File
from files.tests.conftest import image_bytes, upload

pytestmark = pytest.mark.django_db

BUCKET = "wsc-files-test"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bucket(settings, monkeypatch):
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        settings.STORAGES = {
            **settings.STORAGES,
            "files": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": BUCKET,
                    "region_name": "us-east-1",
                    "location": "chat",
                    "default_acl": None,
                    "file_overwrite": False,
                },
            },
        }
        yield client


def keys(client) -> set[str]:
    return {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_files_live_in_the_bucket(api, alice, bucket, media):
    data = image_bytes("PNG", (400, 200))
    response = upload(api, "wide.png", data)
    assert response.status_code == 201
    file = File.objects.get()
    assert keys(bucket) == {f"chat/{file.storage_key}", f"chat/{file.thumbnail_key}"}
    assert bucket.get_object(Bucket=BUCKET, Key=f"chat/{file.storage_key}")["Body"].read() == data
    assert not any(media.iterdir())  # nothing on the local disk

    content = api.get(response.json()["url"])
    assert content.status_code == 200 and b"".join(content.streaming_content) == data
    ranged = api.get(response.json()["url"], HTTP_RANGE="bytes=8-15")
    assert ranged.status_code == 206 and b"".join(ranged.streaming_content) == data[8:16]
    assert ranged["Content-Range"] == f"bytes 8-15/{len(data)}"
    thumb = api.get(response.json()["thumbnail_url"])
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"


def test_the_cleanup_empties_the_bucket(alice, bucket):
    from datetime import timedelta

    from django.utils import timezone

    file = services.do_upload_file(owner=alice, upload=SimpleUploadedFile("p.png", image_bytes("PNG", (20, 20))))
    File.objects.filter(pk=file.pk).update(created_at=timezone.now() - timedelta(days=2))
    assert len(keys(bucket)) == 2
    call_command("cleanup_files", stdout=open(os.devnull, "w"))
    assert keys(bucket) == set() and not File.objects.exists()


def test_a_refused_upload_leaves_nothing_in_the_bucket(api, bucket, settings):
    settings.FILE_QUOTA_BYTES_PER_USER = 10
    assert upload(api, "a.txt", b"0123456789").status_code == 201
    assert upload(api, "b.txt", b"x").status_code == 413
    assert len(keys(bucket)) == 1


def _settings_in_a_fresh_process(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FILE_"))}
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.STORAGES['files']))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "chatsite.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_settings_for_s3_and_their_mistakes():
    import json

    ok = _settings_in_a_fresh_process(
        FILE_STORAGE="s3",
        AWS_STORAGE_BUCKET_NAME="chat-files",
        AWS_S3_ENDPOINT_URL="http://127.0.0.1:9000",
        AWS_S3_ADDRESSING_STYLE="path",
    )
    assert ok.returncode == 0, ok.stderr
    files = json.loads(ok.stdout.strip().splitlines()[-1])
    assert files["BACKEND"] == "storages.backends.s3.S3Storage"
    assert files["OPTIONS"]["bucket_name"] == "chat-files"
    assert files["OPTIONS"]["endpoint_url"] == "http://127.0.0.1:9000"
    assert files["OPTIONS"]["addressing_style"] == "path"
    assert files["OPTIONS"]["access_key"] is None  # boto3's own credential chain

    no_bucket = _settings_in_a_fresh_process(FILE_STORAGE="s3")
    assert no_bucket.returncode != 0 and "FILE_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME" in no_bucket.stderr
    half_keys = _settings_in_a_fresh_process(
        FILE_STORAGE="s3", AWS_STORAGE_BUCKET_NAME="b", AWS_ACCESS_KEY_ID="only-the-id"
    )
    assert half_keys.returncode != 0 and "AWS_SECRET_ACCESS_KEY" in half_keys.stderr
    accel = _settings_in_a_fresh_process(FILE_ACCEL_REDIRECT_PREFIX="protected")
    assert accel.returncode != 0 and "FILE_ACCEL_REDIRECT_PREFIX must start and end with '/'" in accel.stderr
    local = _settings_in_a_fresh_process(MEDIA_ROOT="/srv/chat-media")
    assert json.loads(local.stdout.strip().splitlines()[-1]) == {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": "/srv/chat-media", "base_url": None},
    }
