"""The canonical, versioned byte encoding of an audit entry and its RFC 6962 leaf hash.

Format version 1 (docs/audit-log.md describes it byte for byte): a JSON object with the keys
action, actor{id,name,type}, data, index, request_id, subject{id,label,type}, timestamp, v — keys
sorted by Unicode code point at every level, no insignificant whitespace, UTF-8 without escaping
non-ASCII characters, no floating-point numbers (they are written as strings by `normalise`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

FORMAT_VERSION = 1
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


class EncodingError(ValueError):
    """A value that has no canonical encoding."""


@dataclass(frozen=True)
class ActorRef:
    type: str
    id: str
    name: str


@dataclass(frozen=True)
class SubjectRef:
    type: str
    id: str
    label: str


def format_timestamp(value: dt.datetime) -> str:
    """UTC, microsecond precision, 'Z' suffix: 2026-11-22T21:15:19.123456Z."""
    if value.tzinfo is None:
        raise EncodingError("audit timestamps must be timezone-aware")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalise(value: Any) -> Any:
    """Turns a Python value into the JSON subset the canonical encoding accepts."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise EncodingError("NaN and infinities cannot be recorded")
        return repr(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise EncodingError("NaN and infinities cannot be recorded")
        return str(value)
    if isinstance(value, dt.datetime):
        return format_timestamp(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        normalised = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise EncodingError(f"object keys must be strings, got {type(key).__name__}")
            normalised[key] = normalise(item)
        return normalised
    if isinstance(value, (list, tuple)):
        return [normalise(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted(normalise(item) for item in value)
    raise EncodingError(f"{type(value).__name__} has no canonical encoding")


def _reject_floats(value: Any) -> None:
    if isinstance(value, float):
        raise EncodingError("floating-point numbers are not allowed in the canonical encoding")
    if isinstance(value, dict):
        for item in value.values():
            _reject_floats(item)
    elif isinstance(value, list):
        for item in value:
            _reject_floats(item)


def canonical_json(value: Any) -> bytes:
    _reject_floats(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _entry_document(*, index, timestamp_text: str, actor: ActorRef, action: str, subject: SubjectRef, data: Any,
                    request_id: str | None) -> dict:
    return {
        "v": FORMAT_VERSION,
        "index": index,
        "timestamp": timestamp_text,
        "actor": {"type": actor.type, "id": actor.id, "name": actor.name},
        "action": action,
        "subject": {"type": subject.type, "id": subject.id, "label": subject.label},
        "data": data,
        "request_id": request_id,
    }


def encode_entry(
    *,
    index: int,
    timestamp: dt.datetime,
    actor: ActorRef,
    action: str,
    subject: SubjectRef,
    data: Any,
    request_id: str | None,
) -> bytes:
    """The exact bytes that are hashed into the log for one entry."""
    return canonical_json(_entry_document(index=index, timestamp_text=format_timestamp(timestamp), actor=actor,
                                          action=action, subject=subject, data=data, request_id=request_id))


_INDEX_PLACEHOLDER = b'"index":0,'
_TIMESTAMP_PLACEHOLDER = b'"timestamp":"0000-00-00T00:00:00.000000Z"'


def encode_entry_parts(*, actor: ActorRef, action: str, subject: SubjectRef, data: Any,
                       request_id: str | None) -> tuple[bytes, bytes, bytes]:
    """The entry's encoding around its index and timestamp, for a writer that learns those only under
    the sequencer lock: `head + str(index) + middle + format_timestamp(t) + tail` is exactly
    `encode_entry(index=index, timestamp=t, ...)`.

    Keys are sorted, so the top-level "index" follows "data" and "timestamp" follows "subject"; the
    last occurrence of each placeholder is therefore the top-level one, whatever `data` contains
    (nested keys named "index" included; string values cannot contain a bare quote)."""
    encoded = canonical_json(_entry_document(index=0, timestamp_text="0000-00-00T00:00:00.000000Z", actor=actor,
                                             action=action, subject=subject, data=data, request_id=request_id))
    before_timestamp, found, after_timestamp = encoded.rpartition(_TIMESTAMP_PLACEHOLDER)
    if not found:
        raise EncodingError("the timestamp placeholder is missing from the encoding")
    before_index, found, between = before_timestamp.rpartition(_INDEX_PLACEHOLDER)
    if not found:
        raise EncodingError("the index placeholder is missing from the encoding")
    return before_index + b'"index":', b"," + between + b'"timestamp":"', b'"' + after_timestamp


def leaf_hash(encoded_entry: bytes) -> bytes:
    """RFC 6962 §2.1: SHA-256(0x00 || entry)."""
    return hashlib.sha256(LEAF_PREFIX + encoded_entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 §2.1: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()
