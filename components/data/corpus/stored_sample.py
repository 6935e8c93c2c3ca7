"""One planned sample as it is stored: its shard members and its manifest row."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from components.data.corpus.images import Rendered
from components.data.corpus.plan import PlannedSample


def sample_files(item: PlannedSample, image: Rendered) -> dict[str, bytes]:
    """The WebDataset members: metadata json, the image, the primary caption."""
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
        image.ext: image.data,
        "txt": item.image.captions[0].encode("utf-8"),
    }


def manifest_row(item: PlannedSample, image: Rendered, shard: str) -> dict[str, Any]:
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
        "image_sha256": hashlib.sha256(image.data).hexdigest(),
        "width": image.width,
        "height": image.height,
        "n_bytes": len(image.data),
        "caption_chars": len(caption),
    }
