"""Streaming upload handling for model artifacts and dataset files.

Uploads go straight to a temporary file while a SHA-256 and a byte count are kept as the chunks
arrive. A request whose declared length already exceeds the configured limit is refused before any
of its body is read; a body that grows past the limit is refused at the chunk that crosses it, so the
rest is never read and nothing reaches storage. File names that carry a directory path are refused
instead of being silently shortened, so a client learns that its name was not used.
"""

from __future__ import annotations

import hashlib
import html
from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from rest_framework.parsers import MultiPartParser

from apps.common.errors import FileTooLarge, ValidationFailed

# Room for the form fields and multipart framing that travel with a file in the same body.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def _too_large(limit: int, *, size: int | None = None, declared: bool = False) -> FileTooLarge:
    if declared:
        detail = (
            f"The request body is {size} bytes, more than the upload limit of {limit} bytes; "
            "it was refused before it was read, and nothing was stored."
        )
    else:
        detail = (
            f"The uploaded file exceeds the limit of {limit} bytes; the upload was stopped there and "
            "nothing was stored."
        )
    return FileTooLarge(detail, limit=limit, **({"size": size} if size is not None else {}))


class HashingUploadHandler(TemporaryFileUploadHandler):
    """Writes each uploaded file to a temporary file, hashing and counting its bytes on the way.

    The finished file carries `streamed_sha256` (hex) and `streamed_size`. More than `limit` bytes in
    the files of one request raises FileTooLarge at once.
    """

    def __init__(self, request=None, *, limit: int):
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self._digest = None

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        form_allowance = (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0) + MULTIPART_OVERHEAD_BYTES
        if content_length and content_length > self.limit + form_allowance:
            raise _too_large(self.limit, size=content_length, declared=True)

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self._digest = hashlib.sha256()

    def receive_data_chunk(self, raw_data: bytes, start: int):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.file.close()  # removes the temporary file
            raise _too_large(self.limit)
        self._digest.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size: int):
        uploaded = super().file_complete(file_size)
        uploaded.streamed_sha256 = self._digest.hexdigest()
        uploaded.streamed_size = file_size
        return uploaded


def refuse_path_in_file_name(file_name: str) -> None:
    """Raises ValidationFailed for a client file name that names directories or is '.'/'..'."""
    name = html.unescape(file_name)
    if "/" in name or "\\" in name or name.strip() in {".", ".."} or "\x00" in name:
        message = (
            f"The uploaded file name {file_name!r} contains a directory path; send a plain file name "
            "such as model.skops."
        )
        raise ValidationFailed(message, field_errors={"filename": [message]})


class StrictDjangoMultiPartParser(DjangoMultiPartParser):
    """Django's multipart parser, refusing file names with paths instead of shortening them."""

    def sanitize_file_name(self, file_name):
        refuse_path_in_file_name(file_name)
        return super().sanitize_file_name(file_name)


class StrictMultiPartParser(MultiPartParser):
    """DRF multipart parser built on StrictDjangoMultiPartParser (and the request's upload handlers)."""

    def parse(self, stream, media_type=None, parser_context=None):
        from django.http.multipartparser import MultiPartParserError
        from rest_framework.exceptions import ParseError
        from rest_framework.parsers import DataAndFiles

        parser_context = parser_context or {}
        request = parser_context["request"]
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        try:
            parser = StrictDjangoMultiPartParser(meta, stream, request.upload_handlers, encoding)
            data, files = parser.parse()
        except MultiPartParserError as exc:
            raise ParseError(f"Multipart form parse error - {exc}") from exc
        return DataAndFiles(data, files)


def install_upload_handling(request, *, limit: int) -> None:
    """Makes `request` (a Django HttpRequest, before its body is read) stream uploads through
    HashingUploadHandler with `limit`, and refuse path-carrying file names, whichever code reads it
    first (DRF's parser, or the CSRF check of a session request)."""
    request.upload_handlers = [HashingUploadHandler(request, limit=limit)]

    def parse_file_upload(META, post_data: Any):
        parser = StrictDjangoMultiPartParser(META, post_data, request.upload_handlers, request.encoding)
        return parser.parse()

    request.parse_file_upload = parse_file_upload


class StreamedUploadMixin:
    """For DRF views that accept uploads: installs the streaming handler before anything reads the
    body. Set `upload_limit_setting` to the name of the byte-limit setting."""

    upload_limit_setting = "DOCKET_MAX_ARTIFACT_BYTES"

    def initialize_request(self, request, *args, **kwargs):
        if request.method in ("POST", "PUT", "PATCH"):
            install_upload_handling(request, limit=getattr(settings, self.upload_limit_setting))
        return super().initialize_request(request, *args, **kwargs)
