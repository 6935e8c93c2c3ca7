"""Read a built corpus back: what training and evaluation use.

Captions come from the shards themselves (the manifest is an index), so a reader sees exactly
what a WebDataset/open_clip loader would.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from components.data.corpus.location import CorpusLocation
from components.data.corpus.manifest import Corpus, shard_counts
from components.data.corpus.splits import SPLITS
from components.data.corpus.webdataset import image_part, iter_shard
from components.data.s3 import is_s3


@dataclass(frozen=True)
class Sample:
    id: str
    concept: str
    captions: tuple[str, ...]  # the first is the primary caption
    # the image member's bytes: always a PNG for a sample the validation gate accepted (user
    # bytes that did not decode are kept as .jpg/.webp/.bin for the gate to quarantine)
    image_png: bytes


def shard_samples(corpus: CorpusLocation, shard: str) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, members) of one shard of the corpus, wherever the shard is kept; a name from the
    manifest that would leave the corpus is refused before anything is opened."""
    if not is_s3(corpus.url(shard)):
        yield from iter_shard(Path(corpus.path(shard)))
    else:
        with corpus.open_stream(shard) as stream:  # a shard on S3 streams, never seeks
            yield from iter_shard(stream, sequential=True)


def read_split(
    corpus: Corpus,
    split: str,
    exclude_ids: Collection[str] = frozenset(),
    limit: int | None = None,
) -> list[Sample]:
    """Every sample of `split` (sorted by id) of the corpus (a folder, or a CorpusLocation:
    its shards may be on S3), minus `exclude_ids` (e.g. rows a gate rejected);
    with `limit`, only the first that many. The build writes every split but training's in id
    order, shard after shard, so reading stops there instead of decoding the whole split."""
    exclude_ids = frozenset(exclude_ids)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} (known: {', '.join(SPLITS)})")
    if not isinstance(corpus, CorpusLocation):
        corpus = CorpusLocation.of(corpus)
    shards = sorted(shard_counts(corpus, split))
    samples: list[Sample] = []
    for shard in shards:
        for key, parts in shard_samples(corpus, shard):
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
