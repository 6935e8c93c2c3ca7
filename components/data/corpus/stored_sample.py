"""One planned sample as it is stored: its shard members and its manifest row."""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

from components.data.corpus.images import Rendered
from components.data.corpus.plan import PlannedSample


def text_members(item: PlannedSample) -> dict[str, bytes]:
    """The WebDataset members beside the image: metadata json and the primary caption."""
    meta = {
        "id": item.id,
        "code": item.image.code,
        "concept": item.concept,
        "captions": list(item.image.captions),
        "source": item.image.source,
        "license": item.image.license,
        "split": item.split,
    }
    return {
        "json": json.dumps(meta, sort_keys=True, ensure_ascii=False).encode("utf-8"),
        "txt": item.image.captions[0].encode("utf-8"),
    }


def sample_files(item: PlannedSample, image: Rendered) -> dict[str, bytes]:
    """The WebDataset members: metadata json, the image, the primary caption."""
    return {**text_members(item), image.ext: image.data}


class StoredStats(NamedTuple):
    """What the manifest records of a stored image."""

    sha256: str
    width: int
    height: int
    n_bytes: int

    @classmethod
    def of(cls, image: Rendered) -> StoredStats:
        return cls(hashlib.sha256(image.data).hexdigest(), image.width, image.height,
                   len(image.data))  # fmt: skip


def manifest_row(item: PlannedSample, image: Rendered | StoredStats, shard: str) -> dict[str, Any]:
    stats = image if isinstance(image, StoredStats) else StoredStats.of(image)
    caption = item.image.captions[0]
    return {
        "id": item.id,
        "split": item.split,
        "source": item.image.source,
        "license": item.image.license,
        "code": item.image.code,
        "concept": item.concept,
        "caption": caption,
        "captions": list(item.image.captions),
        "shard": shard,
        "key": item.id,
        "image_sha256": stats.sha256,
        "width": stats.width,
        "height": stats.height,
        "n_bytes": stats.n_bytes,
        "caption_chars": len(caption),
    }
