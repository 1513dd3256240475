"""Wire shape of File (docs/protocol/objects.md "File")."""

from __future__ import annotations

from rest_framework import serializers

from files.models import File
from files.selectors import file_url, thumbnail_url


def file_to_wire(file: File) -> dict:
    data = {
        "id": str(file.uuid),
        "name": file.name,
        "size": file.size,
        "mime": file.mime,
        "url": file_url(file),
        "thumbnail_url": thumbnail_url(file),
    }
    if file.width is not None and file.height is not None:
        data["width"] = file.width
        data["height"] = file.height
    return data


class FileOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    mime = serializers.CharField()
    url = serializers.CharField()
    thumbnail_url = serializers.CharField(allow_null=True)
    width = serializers.IntegerField(required=False)
    height = serializers.IntegerField(required=False)
