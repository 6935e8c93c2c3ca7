"""Text from untrusted tables and shards, kept byte-exact until it is checked.

The CSV reader decodes with surrogateescape, so a byte that is not UTF-8 survives as a surrogate
instead of aborting the whole table; JSON can spell lone surrogates. `as_bytes` gives back what
the user wrote (for the strict caption check), `printable` what a report can hold.
"""

from __future__ import annotations


def as_bytes(value: str) -> bytes:
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate outside the escape range (from JSON)
        return value.encode("utf-8", "surrogatepass")


def printable(value: str) -> str:
    """Bytes that are not UTF-8 shown as \\x.. escapes."""
    return as_bytes(value).decode("utf-8", "backslashreplace")
