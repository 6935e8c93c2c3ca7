"""The one error type the data stage raises for problems the user can fix."""

from __future__ import annotations

from components.errors import UserError


class DataSourceError(UserError, RuntimeError):
    """A source package or a user data source could not be fetched or read, or is not in the
    expected shape. The message is one line for the user: which source, what, what to do."""


def one_line(err: BaseException) -> str:
    """An exception's first line (libraries' messages can run over several), for a message."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0].rstrip(":") if lines else type(err).__name__
