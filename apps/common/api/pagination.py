"""Pagination for API lists: cursor pagination, so a page costs the same at row 10 as at row 100,000."""

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class DocketCursorPagination(CursorPagination):
    """Newest first by primary key; `?page_size=` from 1 to 500; `next`/`previous` links carry the cursor.

    A page size that is not a whole number in that range is refused (400), not silently replaced. Orderings
    are by integer keys."""

    ordering = "-pk"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    invalid_cursor_message = "The cursor is not valid; start again from the first page."

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        message = f"page_size must be a whole number from 1 to {self.max_page_size}."
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [message]})
        return int(raw)

    def decode_cursor(self, request):
        """The request's cursor; a cursor whose position is not a whole number (Docket's lists are all
        ordered by an integer key) is refused like any other invalid cursor, before it reaches a query."""
        cursor = super().decode_cursor(request)
        position = None if cursor is None else cursor.position
        if position is not None and not (position.lstrip("-").isascii() and position.lstrip("-").isdigit()):
            raise NotFound(self.invalid_cursor_message)
        return cursor

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


class OldestFirstCursorPagination(DocketCursorPagination):
    """Cursor pagination in registration order (version 1 first)."""

    ordering = "pk"
