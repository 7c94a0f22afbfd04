"""The one family of domain errors. The API turns each into application/problem+json (RFC 9457);
the UI shows its detail; management commands print it and exit non-zero."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A refused action: a stable problem type, an HTTP status, and a message a person can act on."""

    problem_type = "application-error"
    title = "The request could not be carried out"
    status = 400

    def __init__(self, detail: str, *, field_errors: dict[str, list[str]] | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.field_errors = field_errors or {}
        self.extra = extra

    def __str__(self) -> str:
        if not self.field_errors:
            return self.detail
        fields = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in self.field_errors.items())
        return f"{self.detail} ({fields})"


class ValidationFailed(ApplicationError):
    problem_type = "validation-failed"
    title = "The input is not valid"
    status = 400


class PermissionDenied(ApplicationError):
    problem_type = "permission-denied"
    title = "You are not allowed to do this"
    status = 403


class NotFound(ApplicationError):
    problem_type = "not-found"
    title = "No such object"
    status = 404


class Conflict(ApplicationError):
    problem_type = "conflict"
    title = "The request conflicts with the current state"
    status = 409


class ImmutableRecord(Conflict):
    problem_type = "immutable-record"
    title = "Registered evidence cannot be changed"


class DuplicateKey(Conflict):
    problem_type = "duplicate-key"
    title = "An object with this key already exists"


class ChecksumMismatch(ApplicationError):
    problem_type = "checksum-mismatch"
    title = "The declared SHA-256 does not match the bytes received"
    status = 422


class RefusedFileFormat(ApplicationError):
    problem_type = "refused-file-format"
    title = "This file format is not accepted"
    status = 415


class FileTooLarge(ApplicationError):
    problem_type = "file-too-large"
    title = "The file exceeds the configured size limit"
    status = 413


def validation_error(field: str, message: str) -> ValidationFailed:
    """A ValidationFailed for a single field, with the message as both detail and field error."""
    return ValidationFailed(message, field_errors={field: [message]})
