"""Receiving an upload: one file, counted, hashed and written to a temporary
file chunk by chunk as the multipart body is parsed. The parse stops at the
first byte over the limit (413 `too_large`), so an oversized body is never
kept whole; a body whose Content-Length is already too large is refused
before the first byte is read."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers
from django.http.multipartparser import MultiPartParser as FormParser
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles
from rest_framework.parsers import MultiPartParser as RestMultiPartParser

from chatsite.bodyguard import MULTIPART_OVERHEAD
from chatsite.errors import Invalid, TooLarge

FIELD = "file"
# Room for the multipart framing around the file (boundaries, part headers,
# a long file name) when judging a request's Content-Length.


def too_large(limit: int, *, quota: bool = False) -> TooLarge:
    if quota:
        return TooLarge(gettext("This file does not fit in your storage quota."))
    return TooLarge(gettext("A file may have at most %(limit)s bytes.") % {"limit": limit})


class OneFileUploadHandler(FileUploadHandler):
    """The only upload handler of POST /files.

    `limit` is the most bytes the file may have: MAX_FILE_BYTES, or less when
    the user's quota has less room left (`quota_bound`)."""

    chunk_size = 64 * 1024

    def __init__(self, request=None, *, limit: int | None = None, quota_bound: bool = False) -> None:
        super().__init__(request)
        self.limit = settings.MAX_FILE_BYTES if limit is None else limit
        self.quota_bound = quota_bound
        self.files_seen = 0
        self.received = 0
        self.sha256 = hashlib.sha256()
        self.file: TemporaryUploadedFile | None = None

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length is not None and content_length > self.limit + MULTIPART_OVERHEAD:
            raise too_large(self.limit, quota=self.quota_bound)
        return None

    def new_file(self, field_name, file_name, content_type, content_length, charset=None, content_type_extra=None):
        self.files_seen += 1
        if field_name != FIELD or self.files_seen > 1:
            self._discard()
            raise Invalid.field(FIELD, gettext("Send exactly one file, in the field `file`."))
        if content_length is not None and content_length > self.limit:
            raise too_large(self.limit, quota=self.quota_bound)
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        # The client's type is not trusted: the service sniffs the bytes.
        self.file = TemporaryUploadedFile(self.file_name, "application/octet-stream", 0, None)
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self._discard()
            raise too_large(self.limit, quota=self.quota_bound)
        self.sha256.update(raw_data)
        self.file.write(raw_data)  # type: ignore[union-attr]
        return None

    def file_complete(self, file_size):
        self.file.seek(0)  # type: ignore[union-attr]
        self.file.size = file_size  # type: ignore[union-attr]
        self.file.sha256 = self.sha256.hexdigest()  # type: ignore[union-attr]
        return self.file

    def upload_interrupted(self):
        self._discard()

    def _discard(self) -> None:
        if self.file is not None:
            self.file.close()  # a NamedTemporaryFile: closing deletes it
            self.file = None


class _ExactNameFormParser(FormParser):
    """Django's multipart parser, but a file's name as the browser sent it.

    Django reads the name as HTML (`html.unescape`), which turns a real name
    like "Data&center plan.pdf" into "Data¢er plan.pdf"; browsers do not
    escape names that way. What they do escape (the HTML form encoding) is
    `"` as %22, and CR and LF as %0D and %0A: the quote is given back, the
    line breaks dropped. The display name is cleaned further by
    files.content.clean_display_name; here only what a path would need."""

    def sanitize_file_name(self, file_name):
        name = file_name.replace("%22", '"').replace("%0D", "").replace("%0A", "")
        name = name.replace("\\", "/").rsplit("/", 1)[-1]
        name = "".join(ch for ch in name if ch.isprintable())
        return None if name in {"", ".", ".."} else name


class UploadParser(RestMultiPartParser):
    """The parser of POST /files: DRF's, on the parser above."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = parser_context["request"]
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            data, files = _ExactNameFormParser(meta, stream, request.upload_handlers, encoding).parse()
        except MultiPartParserError as exc:
            raise ParseError(gettext("The multipart body is malformed.")) from exc
        return DataAndFiles(data, files)
