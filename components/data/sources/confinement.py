"""Where a user's image reference may point: inside the data roots, decided before any byte is read.

A table often comes from someone else. Its image cells are references (a relative or absolute
path, an s3:// URL), and each must resolve inside a root: the table's own folder (or S3 prefix)
by default, or the folders and prefixes of `data.user_roots`. A `..` that climbs out, an absolute
path elsewhere, a symlink (anywhere along the path) whose real target leaves the roots, an S3 key
in another bucket or prefix: all are refused as `outside_root` without opening the file.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from components.checks.reasons import Problem, Reason
from components.data.errors import DataSourceError
from components.data.s3 import SCHEME, is_s3, join_url, split_url

WEB_SCHEMES = ("http", "https")

# scheme://... : a URL. Only s3:// is read by the build; anything else is refused by its scheme.
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True)
class Roots:
    """Real (symlink-free) local folders and s3://bucket/prefix/ URLs ending with '/'."""

    local: tuple[Path, ...]
    s3: tuple[str, ...]

    @classmethod
    def of(cls, locations: Sequence[str]) -> Roots:
        local, s3 = [], []
        for location in locations:
            if is_s3(location):
                s3.append(location if location.endswith("/") else location + "/")
            else:
                local.append(Path(os.path.realpath(Path(location).expanduser().absolute())))
        return cls(tuple(local), tuple(s3))

    def admits_path(self, path: Path) -> bool:
        return any(path == root or path.is_relative_to(root) for root in self.local)

    def admits_url(self, url: str) -> bool:
        return any(url.startswith(root) for root in self.s3)

    def describe(self) -> str:
        return ", ".join([*map(str, self.local), *self.s3]) or "none"


def table_roots(table: str, user_roots: Sequence[str]) -> Roots:
    """The roots a table's references may point into: data.user_roots, else its own folder."""
    if user_roots:
        return Roots.of(user_roots)
    if is_s3(table):
        return Roots.of([table.rpartition("/")[0] + "/"])
    return Roots.of([str(Path(table).absolute().parent)])


def _outside(ref: str, why: str, roots: Roots) -> Problem:
    where = roots.describe()
    return Problem(Reason.OUTSIDE_ROOT, f"{ref!r} {why}, outside the data roots ({where})")


def has_dot_segments(key: str) -> bool:
    """A key with '.' or '..' parts: S3 takes them literally, some compatible stores do not."""
    return any(part in (".", "..") for part in key.split("/"))


def resolve_s3(ref: str, roots: Roots) -> str | Problem:
    """An s3:// reference, if it lies under an S3 root (and has no '.' or '..' segments)."""
    try:
        bucket, key = split_url(ref)
    except DataSourceError:
        return Problem(Reason.INVALID_REFERENCE, f"{ref!r} is not an s3://bucket/key URL")
    if not key or key.endswith("/"):
        return Problem(Reason.NOT_A_FILE, f"{ref!r} names a bucket or a folder, not an object")
    if has_dot_segments(key):
        return _outside(ref, "has '.' or '..' in its key", roots)
    url = join_url(bucket, key)
    if not roots.admits_url(url):
        return _outside(ref, "is an object", roots)
    return url


def _resolve_local(ref: str, base: Path, roots: Roots) -> Path | Problem:
    """`base` is the table's real folder; every path is compared in its real, symlink-free form."""
    if "\x00" in ref:
        return Problem(Reason.INVALID_REFERENCE, f"{ref!r} holds a NUL byte")
    given = Path(ref)  # taken literally: a table is not a shell, '~' is no home folder
    lexical = Path(os.path.normpath(base / given))  # an absolute `given` replaces `base`
    if not given.is_absolute() and not roots.admits_path(lexical):
        return _outside(ref, "climbs out with '..'", roots)
    real = Path(os.path.realpath(lexical))  # every symlink along the path, followed
    if not roots.admits_path(real):
        why = f"is a symlink to {real}" if real != lexical else "is an absolute path"
        return _outside(ref, why, roots)
    return real


class WebUrl(str):
    """An http(s) URL from a table: not under the roots (the web is not a folder); the fetcher
    checks its addresses instead (components/data/fetch/http_client.py)."""


def resolve_reference(ref: str, table: str, roots: Roots) -> str | Path | WebUrl | Problem:
    """Where one image cell points: a real local path or an s3:// URL inside the roots, an
    http(s) URL to fetch, or why it may not be read. Relative references are relative to the
    table's folder (or prefix)."""
    ref = ref.strip()
    if not ref:
        return Problem(Reason.EMPTY_IMAGE_FIELD, "the image field is empty")
    url = _URL.match(ref)
    if url and url.group(1).lower() in WEB_SCHEMES:
        return WebUrl(ref)  # fetched, from anywhere but this machine's networks (fetch/)
    if url and url.group(1).lower() + "://" != SCHEME:
        return Problem(
            Reason.UNSUPPORTED_URL,
            f"{ref[:200]!r}: the build reads local paths, s3:// and http(s):// URLs, not "
            f"{url.group(1)}://",
        )
    if url:
        return resolve_s3(ref, roots)
    if is_s3(table) and not ref.startswith("/"):  # a relative reference: a key beside it
        bucket, key = split_url(table)
        joined = posixpath.normpath(posixpath.join(key.rpartition("/")[0], ref))
        if joined == ".." or joined.startswith("../"):
            return _outside(ref, "climbs out of the bucket with '..'", roots)
        return resolve_s3(join_url(bucket, joined), roots)
    base = Path("/") if is_s3(table) else Path(os.path.realpath(Path(table).absolute().parent))
    return _resolve_local(ref, base, roots)
