"""One user sample as the build sees it: a candidate (bytes read, nothing checked yet), then,
once admitted, a SourceImage.

Its code (hence its id, "user-<code>") is the first 16 hex digits of the image's sha256, so the
same picture gets the same id wherever it came from (a second copy is a duplicate_image).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.data.corpus.records import ImageAt, SourceImage

SOURCE = "user"
UNKNOWN_LICENSE = "unknown"
CATEGORY = "user"
CODE_HEX = 16


@dataclass(frozen=True)
class UserCandidate:
    """A user sample whose bytes were read from inside the roots, not yet checked."""

    source: str  # the entry of data.user_sources it came from
    reference: str  # what the user gave: the table's image cell, or shard#key
    row: int | None  # the table's row, counted from 1 below the header; None in shards
    data: bytes
    captions: tuple[bytes, ...]  # as given, not yet known to be UTF-8; the first is primary
    license: str = ""
    at: ImageAt | None = None  # a shard sample: where `data` lies in its shard


def text(value: Any) -> str:
    """A table cell as text: missing values (None, NaN, pd.NA) are ''."""
    import pandas as pd

    if isinstance(value, str):
        return value
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    return str(value)


def parse_captions(value: Any) -> list[str]:
    """Extra captions: a list, a JSON list in a string, or a '|'-separated string."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                loaded = json.loads(stripped)
            except ValueError:
                loaded = None
            if isinstance(loaded, list):
                return [text(item) for item in loaded]
        return stripped.split("|") if stripped else []
    if isinstance(value, Iterable) and not isinstance(value, bytes | dict):
        return [text(item) for item in value]  # a parquet list column
    return [] if not text(value) else [text(value)]


def user_image(candidate: UserCandidate, captions: tuple[str, ...], sha256: str) -> SourceImage:
    """An admitted user sample: its checked, decoded captions (the first is primary) and the
    sha256 of its bytes (computed once, by the checks)."""
    code = sha256[:CODE_HEX]
    return SourceImage(
        source=SOURCE,
        code=code,
        base_code=code,
        name=captions[0],
        captions=captions,
        category=CATEGORY,
        license=candidate.license.strip() or UNKNOWN_LICENSE,
        path=Path(candidate.reference),  # only names the origin; the bytes are `data`
        data=candidate.data if candidate.data or candidate.at is None else None,
        at=candidate.at,
        sha256=sha256,
    )
