"""Docket's Python SDK (`docket.client`) and command-line tool (`docket.cli`)."""

from .client import DocketClient, DocketError

__all__ = ["DocketClient", "DocketError"]
