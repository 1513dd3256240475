"""REST views for files: upload, content and thumbnail (rest.md "Files")."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpResponse
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chatsite.errors import Invalid, NotFound, TooLarge, UnsupportedMedia
from chatsite.schema import errors
from files import selectors, services, storage
from files.content import thumbnail_mime
from files.serializers import FileOut, file_to_wire
from files.serving import file_response
from files.uploads import FIELD, OneFileUploadHandler, UploadParser

_CONDITIONS = [
    OpenApiParameter("Range", str, OpenApiParameter.HEADER, description="one range of bytes, `bytes=0-1023`"),
    OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, description="the ETag you have: 304 if unchanged"),
]
_BINARY = {
    (200, "*/*"): OpenApiResponse(OpenApiTypes.BINARY, description="the bytes, with the type sniffed at upload"),
    (206, "*/*"): OpenApiResponse(OpenApiTypes.BINARY, description="the requested range"),
    304: OpenApiResponse(description="not modified (If-None-Match)"),
    **errors(s404="`not_found`: no such file, or not one the caller may read"),
    416: OpenApiResponse(description="the Range cannot be satisfied"),
}


class UploadView(APIView):
    """POST /files: multipart, exactly one file in the field `file`."""

    parser_classes = [UploadParser]

    def initialize_request(self, request, *args, **kwargs):
        # Before anything can parse the body (the cookie session's CSRF check
        # reads the form): the one handler that counts while it streams.
        self._upload_handler = OneFileUploadHandler(request)
        request.upload_handlers = [self._upload_handler]
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {FIELD: {"type": "string", "format": "binary", "minLength": 1}},
                "required": [FIELD],
            },
        },
        responses={
            201: FileOut,
            **errors(
                s400="`invalid`: no file, an empty file, or more than one",
                s413="`too_large`: over MAX_FILE_BYTES or the user's storage quota",
                s415="`unsupported_media`: a refused type, or not multipart/form-data",
            ),
        },
        tags=["files"],
    )
    def post(self, request: Request) -> Response:
        if not (request.content_type or "").lower().startswith("multipart/form-data"):
            raise UnsupportedMedia(gettext("Send the file as multipart/form-data, in the field `file`."))
        allowance = services.check_upload_allowance(user=request.user)
        self._upload_handler.limit = allowance.limit
        self._upload_handler.quota_bound = allowance.quota_bound
        try:
            files = request.FILES
        except RequestDataTooBig:
            raise TooLarge(gettext("The form fields are too large.")) from None
        except (TooManyFieldsSent, TooManyFilesSent):
            raise Invalid.field(FIELD, gettext("Send exactly one file, in the field `file`.")) from None
        uploads = files.getlist(FIELD)
        if len(uploads) != 1 or len(files) != 1:
            raise Invalid.field(FIELD, gettext("Send exactly one file, in the field `file`."))
        file = services.do_upload_file(owner=request.user, upload=uploads[0])
        return Response(file_to_wire(file), status=status.HTTP_201_CREATED)


class _AnyAccept(BaseContentNegotiation):
    """The bytes go out whatever the Accept header says (an <img> or <video>
    asks for image/* or video/*); errors are JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class FileContentView(APIView):
    """GET /files/{id}/content: the bytes, to whoever may read the file."""

    content_negotiation_class = _AnyAccept

    @extend_schema(parameters=_CONDITIONS, responses=_BINARY, tags=["files"])
    def get(self, request: Request, file_id: str) -> HttpResponse:
        file = selectors.access_file(user=request.user, file_id=file_id)
        return file_response(
            request._request, key=file.storage_key, size=file.size, mime=file.mime, name=file.name, etag=file.sha256
        )


class FileThumbnailView(APIView):
    """GET /files/{id}/thumbnail: the thumbnail of an image, same rules."""

    content_negotiation_class = _AnyAccept

    @extend_schema(parameters=_CONDITIONS, responses=_BINARY, tags=["files"])
    def get(self, request: Request, file_id: str) -> HttpResponse:
        file = selectors.access_file(user=request.user, file_id=file_id)
        if not file.thumbnail_key:
            raise NotFound(gettext("This file has no thumbnail."))

        try:
            size = storage.files_storage().size(file.thumbnail_key)
        except FileNotFoundError:
            raise NotFound(gettext("This file has no thumbnail.")) from None
        stem = file.name.rsplit(".", 1)[0] if "." in file.name else file.name
        ext = file.thumbnail_key.rsplit(".", 1)[-1]
        return file_response(
            request._request,
            key=file.thumbnail_key,
            size=size,
            mime=thumbnail_mime(file.thumbnail_key),
            name=f"{stem}.thumb.{ext}",
            etag=f"{file.sha256}-t",
        )
