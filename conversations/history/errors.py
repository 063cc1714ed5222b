"""What history refuses, with the reason for the page: an import file, a search."""

from __future__ import annotations


class ImportRefused(Exception):
    """The file is not a valid export: nothing was imported. `message` says why, for the page."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class SearchError(ValueError):
    """The search text cannot be searched; `message` says why, for the page."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
