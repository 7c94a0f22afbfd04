"""The streaming upload handler: hashes while receiving and stops at the limit without reading the rest."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.test import RequestFactory

from apps.common.api.uploads import HashingUploadHandler, StrictDjangoMultiPartParser
from apps.common.errors import FileTooLarge, ValidationFailed

from .conftest import assert_problem, client_for


class CountingStream(io.BytesIO):
    """A request body that records how many bytes were read from it."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def multipart(content: bytes, file_name: str = "model.skops") -> tuple[bytes, str]:
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="artifact"; filename="{file_name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def parse(body: bytes, content_type: str, *, limit: int, stream=None):
    request = RequestFactory().post("/", data=b"", content_type=content_type)
    meta = {**request.META, "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body))}
    handler = HashingUploadHandler(request, limit=limit)
    parser = StrictDjangoMultiPartParser(meta, stream or CountingStream(body), [handler], "utf-8")
    return parser.parse()


def test_the_handler_hashes_and_counts_the_file_while_receiving_it():
    content = b"x" * 300_000
    body, content_type = multipart(content)
    _, files = parse(body, content_type, limit=1_000_000)
    uploaded = files["artifact"]
    assert uploaded.streamed_sha256 == hashlib.sha256(content).hexdigest()
    assert uploaded.streamed_size == len(content)
    assert hasattr(uploaded, "temporary_file_path")  # streamed to disk, not held in memory


def test_a_file_crossing_the_limit_stops_the_upload_without_reading_the_rest_of_the_body():
    content = b"y" * 5_000_000
    body, content_type = multipart(content)
    stream = CountingStream(body)
    with pytest.raises(FileTooLarge):
        parse(body, content_type, limit=100_000, stream=stream)
    assert stream.bytes_read < 1_000_000, stream.bytes_read


def test_a_declared_body_length_over_the_limit_is_refused_before_reading_anything(settings):
    request = RequestFactory().post("/", data=b"", content_type="multipart/form-data; boundary=b")
    handler = HashingUploadHandler(request, limit=1000)
    too_long = 1000 + settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1024 * 1024
    with pytest.raises(FileTooLarge) as refused:
        handler.handle_raw_input(CountingStream(b""), request.META, too_long, b"b")
    assert refused.value.extra == {"limit": 1000, "size": too_long}


@pytest.mark.parametrize("name", ["../x.skops", "a/b.skops", "..\\x.skops", ".."])
def test_file_names_with_directories_are_refused(name):
    body, content_type = multipart(b"data", file_name=name)
    with pytest.raises(ValidationFailed):
        parse(body, content_type, limit=1000)


def test_over_the_api_a_declared_oversize_body_is_refused_413_and_nothing_stored(
    submitter, model, skops_bytes, state, settings
):
    settings.DOCKET_MAX_ARTIFACT_BYTES = 1000
    body, content_type = multipart(skops_bytes)
    before = state()
    response = client_for(submitter).generic(
        "POST", "/api/v1/use-cases/credit-scoring/models/default-lr/versions/", body,
        content_type=content_type, CONTENT_LENGTH=str(50 * 1024 * 1024),
    )
    problem = assert_problem(response, 413, "file-too-large")
    assert "before it was read" in problem["detail"]
    assert state() == before


def test_a_session_request_gets_the_same_streaming_checks_as_a_key(submitter, model, skops_bytes, state, settings):
    """Session requests pass Django's CSRF check, which reads the body first: the checks still apply."""
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(submitter)
    client.cookies["csrftoken"] = "a" * 32  # the CSRF check then reads the form for csrfmiddlewaretoken
    body, content_type = multipart(skops_bytes, file_name="../../evil.skops")
    before = state()
    response = client.generic("POST", "/api/v1/use-cases/credit-scoring/models/default-lr/versions/", body,
                              content_type=content_type)
    assert_problem(response, 400, "validation-failed", field="filename")
    assert state() == before
