"""The user's own image-text data (data.user_sources): tables or WebDataset shards, local or S3.

Returns user SourceImages with unique codes, plus a provenance entry per source for the card.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from typing import Any

from components.data.records import SourceImage
from components.data.s3 import S3Store
from components.data.user_shards import load_shards
from components.data.user_tables import is_table, load_table


def _unique_codes(images: list[SourceImage]) -> list[SourceImage]:
    """Ids must be unique, so the 2nd, 3rd... sample with the same image gets "-2", "-3"...
    (the validation gate then rejects it as a duplicate image, as it should)."""
    seen: Counter[str] = Counter()
    unique: list[SourceImage] = []
    for image in images:
        seen[image.code] += 1
        if seen[image.code] > 1:
            code = f"{image.code}-{seen[image.code]}"
            image = dataclasses.replace(image, code=code, base_code=code)
        unique.append(image)
    return unique


def _provenance(location: str, kind: str, images: list[SourceImage]) -> dict[str, Any]:
    """What the card records: the source, its size, and a digest of exactly what was read."""
    digest = hashlib.sha256()
    for image in images:
        assert image.data is not None  # user images are always read up front
        digest.update(hashlib.sha256(image.data).digest())
        digest.update("\x1f".join((*image.captions, image.license)).encode("utf-8") + b"\x1e")
    return {
        "location": location,
        "kind": kind,
        "samples": len(images),
        "content_sha256": digest.hexdigest(),
    }


def load_user_sources(locations: list[str]) -> tuple[list[SourceImage], list[dict[str, Any]]]:
    """Every sample of every source, in the order given, and one provenance entry per source."""
    store = S3Store()  # connects only if a source is on S3
    images: list[SourceImage] = []
    provenance: list[dict[str, Any]] = []
    for location in locations:
        kind = "table" if is_table(location) else "webdataset"
        loaded = load_table(location, store) if kind == "table" else load_shards(location, store)
        provenance.append(_provenance(location, kind, loaded))
        images += loaded
    return _unique_codes(images), provenance
