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
from django.utils.translation import gettext

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
