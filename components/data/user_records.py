"""One user sample as the build sees it: a SourceImage whose bytes are already read.

Its code (hence its id, "user-<code>") is the first 16 hex digits of the image's sha256, so the
same picture gets the same id wherever it came from; user_sources.py suffixes repeats.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from components.data.records import SourceImage, unique_in_order

SOURCE = "user"
UNKNOWN_LICENSE = "unknown"
CATEGORY = "user"
CODE_HEX = 16


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


def user_image(
    origin: str, data: bytes, caption: str, extra: Iterable[str] = (), license_: str = ""
) -> SourceImage:
    """A user sample. Its primary caption is `caption`, else the first extra one; with none at
    all it is '' and the validation gate rejects the sample (empty_caption)."""
    captions = unique_in_order([caption, *extra]) or ("",)
    code = hashlib.sha256(data).hexdigest()[:CODE_HEX]
    return SourceImage(
        source=SOURCE,
        code=code,
        base_code=code,
        name=captions[0],
        captions=captions,
        category=CATEGORY,
        license=license_.strip() or UNKNOWN_LICENSE,
        path=Path(origin),  # only names the origin (and its extension); the bytes are `data`
        data=data,
    )
