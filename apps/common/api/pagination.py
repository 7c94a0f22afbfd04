"""Pagination for API lists: cursor pagination, so a page costs the same at row 10 as at row 100,000."""

from rest_framework.pagination import CursorPagination


class DocketCursorPagination(CursorPagination):
    """Newest first by primary key; `?page_size=` up to 500; `next`/`previous` links carry the cursor."""

    ordering = "-pk"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    invalid_cursor_message = "The cursor is not valid; start again from the first page."


class OldestFirstCursorPagination(DocketCursorPagination):
    """Cursor pagination in registration order (version 1 first)."""

    ordering = "pk"
