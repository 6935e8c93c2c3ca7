"""The machine-readable reason codes a sample can be quarantined for.

One code per rejected sample (the first problem found); the quarantine report and the gate's
message use these strings, so they are part of the pipeline's interface: add, don't rename.
"""

from __future__ import annotations

from enum import StrEnum


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
    # the image
    ZERO_BYTES = "zero_bytes"
    NOT_AN_IMAGE = "not_an_image"
    TRUNCATED = "truncated"
    CORRUPT_IMAGE = "corrupt_image"  # checksum or stream errors other than truncation
    DECOMPRESSION_BOMB = "decompression_bomb"  # header promises more pixels than the cap
    UNSUPPORTED_MODE = "unsupported_mode"  # a pixel mode that cannot be converted to RGB
    IMAGE_TOO_SMALL = "image_too_small"
    IMAGE_TOO_LARGE = "image_too_large"
    DUPLICATE_IMAGE = "duplicate_image"  # same pixels as an earlier accepted sample
    # the caption and metadata
    EMPTY_CAPTION = "empty_caption"
    WHITESPACE_CAPTION = "whitespace_caption"
    NON_UTF8_CAPTION = "non_utf8_caption"
    CAPTION_TOO_SHORT = "caption_too_short"
    CAPTION_TOO_LONG = "caption_too_long"
    BAD_METADATA = "bad_metadata"  # <key>.json unreadable, incomplete or about another sample
