"""The machine-readable reason codes a sample can be rejected for, and a Problem (code + detail).

One code per rejected sample (the first problem found); the data build's rejected.parquet, the
quarantine report and the gate's message use these strings, so they are part of the pipeline's
interface: add, don't rename. docs/bad_inputs.md lists every kind of bad input and its code.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Reason(StrEnum):
    # manifest rows (found by the great-expectations suite)
    MISSING_FIELD = "missing_field"  # a key column is null
    DUPLICATE_ID = "duplicate_id"  # a later row repeats an earlier row's id
    UNKNOWN_SPLIT = "unknown_split"  # also a structural failure: the whole gate stops
    UNKNOWN_SOURCE = "unknown_source"  # also a structural failure
    # where the sample lives
    PATH_ESCAPE = "path_escape"  # shard path is absolute, has '..' or a symlink leaving the root
    MISSING_SHARD = "missing_shard"
    UNREADABLE_SHARD = "unreadable_shard"  # not a tar, or cut off before this member
    MISSING_MEMBER = "missing_member"  # <key>.png/.txt/.json absent from its shard
    IRREGULAR_MEMBER = "irregular_member"  # a link or device entry where a file should be
    NOT_IN_MANIFEST = "not_in_manifest"  # a sample in a shard that no manifest row lists
    CHECKSUM_MISMATCH = "checksum_mismatch"  # image bytes differ from manifest image_sha256
    # a user's reference to an image (a table cell, a shard), refused before a byte is read
    EMPTY_IMAGE_FIELD = "empty_image_field"  # the table's image cell is empty
    IMAGE_FIELD_NOT_TEXT = "image_field_not_text"  # the image column holds bytes or numbers
    UNSUPPORTED_URL = "unsupported_url"  # a scheme the build does not fetch (ftp, file...)
    INVALID_REFERENCE = "invalid_reference"  # not a path or URL at all (a NUL byte, no key)
    OUTSIDE_ROOT = "outside_root"  # resolves outside the data roots: '..', absolute, symlink
    MISSING_FILE = "missing_file"
    NOT_A_FILE = "not_a_file"  # a directory, a FIFO, a device, a symlink loop
    UNREADABLE_FILE = "unreadable_file"  # exists, but reading it failed (permissions, I/O)
    FILE_TOO_LARGE = "file_too_large"  # above validate.max_image_bytes: never read
    MALFORMED_ROW = "malformed_row"  # a CSV row with another number of fields than the header
    # an http(s) URL, fetched (components/data/fetch/): the answer, or why there was none
    HTTP_400 = "http_400"
    HTTP_401 = "http_401"
    HTTP_403 = "http_403"
    HTTP_404 = "http_404"
    HTTP_410 = "http_410"
    HTTP_429 = "http_429"  # still too many requests after the retries
    HTTP_500 = "http_500"
    HTTP_502 = "http_502"
    HTTP_503 = "http_503"
    HTTP_504 = "http_504"
    HTTP_ERROR = "http_error"  # any other status but 200 (the detail names it)
    TIMEOUT = "timeout"  # no answer, or not all of it, within data.fetch_timeout_s
    UNREACHABLE = "unreachable"  # the name does not resolve, or the connection is refused/reset
    TOO_MANY_REDIRECTS = "too_many_redirects"  # more than data.fetch_max_redirects hops
    PRIVATE_ADDRESS = "private_address"  # resolves to loopback, private or link-local addresses
    # the image
    ZERO_BYTES = "zero_bytes"
    NOT_AN_IMAGE = "not_an_image"
    TRUNCATED = "truncated"
    CORRUPT_IMAGE = "corrupt_image"  # checksum or stream errors other than truncation
    DECOMPRESSION_BOMB = "decompression_bomb"  # header promises more pixels than the cap
    UNSUPPORTED_MODE = "unsupported_mode"  # a pixel mode that cannot be converted to RGB
    IMAGE_TOO_SMALL = "image_too_small"
    IMAGE_TOO_LARGE = "image_too_large"
    EXTREME_ASPECT_RATIO = "extreme_aspect_ratio"  # long side / short side above the limit
    DUPLICATE_IMAGE = "duplicate_image"  # same bytes (build) or pixels (gate) as an earlier one
    # the caption and metadata
    EMPTY_CAPTION = "empty_caption"
    WHITESPACE_CAPTION = "whitespace_caption"
    NON_UTF8_CAPTION = "non_utf8_caption"
    CAPTION_TOO_SHORT = "caption_too_short"
    CAPTION_TOO_LONG = "caption_too_long"
    CONTROL_CHARACTERS = "control_characters"  # NUL and other Unicode Cc but tab and newline
    CAPTION_NOT_TEXT = "caption_not_text"  # the table's caption column is not a text column
    BAD_METADATA = "bad_metadata"  # <key>.json unreadable, incomplete or about another sample


class Problem(NamedTuple):
    """Why one sample is rejected: a reason code and one sentence for people."""

    reason: Reason
    detail: str
