"""The id of the request being served, so that audit entries can name the request that caused them."""

from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("docket_request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None):
    return _request_id.set(value)


def reset_request_id(token) -> None:
    _request_id.reset(token)
