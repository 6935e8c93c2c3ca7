"""Read one S3 object of a user table for the fetcher: its size is known before its body is read.

A missing key or a refusal is this row's problem (missing_file, unreadable_file); a store that
cannot be reached at all is the build's (S3Store raises DataSourceError).
"""

from __future__ import annotations

from contextlib import closing

from components.checks.image import too_many_bytes
from components.checks.limits import SampleLimits
from components.checks.reasons import Problem, Reason
from components.data.s3 import S3Store


def read_s3(url: str, store: S3Store, max_bytes: int) -> tuple[bytes, str] | Problem:
    """(the object's bytes, its ETag), or why not."""
    found = store.open_object(url)
    if isinstance(found, str):
        reason = Reason.MISSING_FILE if found == "missing" else Reason.UNREADABLE_FILE
        return Problem(reason, f"{url}: {'no such object' if found == 'missing' else found}")
    size, body, etag = found
    with closing(body):
        if size > max_bytes:
            return too_many_bytes(size, SampleLimits(max_image_bytes=max_bytes))
        return body.read(), etag
