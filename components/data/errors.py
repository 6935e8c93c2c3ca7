"""The one error type the data stage raises for problems the user can fix."""

from __future__ import annotations


class DataSourceError(RuntimeError):
    """A source package could not be fetched or read. The message is one line for the user."""
