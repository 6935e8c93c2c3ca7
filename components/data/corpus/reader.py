"""Read a built corpus back: what training and evaluation use.

Captions come from the shards themselves (the manifest is an index), so a reader sees exactly
what a WebDataset/open_clip loader would.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from components.data.corpus.manifest import read_manifest
from components.data.corpus.splits import SPLITS
from components.data.corpus.webdataset import image_part, iter_shard


@dataclass(frozen=True)
class Sample:
    id: str
    concept: str
    captions: tuple[str, ...]  # the first is the primary caption
    # the image member's bytes: always a PNG for a sample the validation gate accepted (user
    # bytes that did not decode are kept as .jpg/.webp/.bin for the gate to quarantine)
    image_png: bytes


def read_split(
    data_dir: Path,
    split: str,
    exclude_ids: Collection[str] = frozenset(),
    limit: int | None = None,
) -> list[Sample]:
    """Every sample of `split` (sorted by id), minus `exclude_ids` (e.g. rows a gate rejected);
    with `limit`, only the first that many. The build writes every split but training's in id
    order, shard after shard, so reading stops there instead of decoding the whole split."""
    exclude_ids = frozenset(exclude_ids)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} (known: {', '.join(SPLITS)})")
    data_dir = Path(data_dir)
    index = read_manifest(data_dir, columns=["split", "shard"]).to_pydict()
    pairs = zip(index["split"], index["shard"], strict=True)
    shards = sorted({shard for row_split, shard in pairs if row_split == split})
    samples: list[Sample] = []
    for shard in shards:
        for key, parts in iter_shard(data_dir / shard):
            if key in exclude_ids:
                continue
            meta = json.loads(parts["json"])
            captions = tuple(meta["captions"])
            image = image_part(parts)
            if image is None:
                raise ValueError(f"sample {key!r} in {shard} has no image member")
            samples.append(Sample(meta["id"], meta["concept"], captions, image[1]))
            if limit is not None and len(samples) >= limit:
                return sorted(samples, key=lambda sample: sample.id)
    return sorted(samples, key=lambda sample: sample.id)
