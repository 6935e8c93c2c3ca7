"""manifest.parquet: one row per sample, the corpus's index (validation reads it; so do tests)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from components.artifacts import MANIFEST_FILE
from components.data.corpus.location import CorpusLocation
from components.data.corpus.parquet_batches import GroupedWriter, row_group_batches

MANIFEST = MANIFEST_FILE

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("split", pa.string()),
        ("source", pa.string()),
        ("license", pa.string()),
        ("code", pa.string()),
        ("concept", pa.string()),
        ("caption", pa.string()),
        ("captions", pa.list_(pa.string())),
        ("shard", pa.string()),
        ("key", pa.string()),
        ("image_sha256", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("n_bytes", pa.int64()),
        ("caption_chars", pa.int32()),
    ]
)


def write_manifest(rows: list[dict[str, Any]], path: Path, parts: Sequence[Path] = ()) -> None:
    """`rows` (the packages' samples) sorted by (split, id), then the rows of each of `parts`
    (the user's samples of one split, in shard order, as written while they streamed), copied
    a row group at a time into groups of GROUP_ROWS. A fixed schema and writer options keep
    the file byte-stable."""
    ordered = sorted(rows, key=lambda row: (row["split"], row["id"]))
    table = pa.Table.from_pylist(ordered, schema=SCHEMA)
    if not parts:
        pq.write_table(table, path, compression="zstd", store_schema=True)
        return
    with pq.ParquetWriter(path, SCHEMA, compression="zstd", store_schema=True) as writer:
        writer.write_table(table)
        grouped = GroupedWriter(writer)
        for part in parts:  # one split each: a row group never mixes two
            for batch in row_group_batches(pq.ParquetFile(part)):
                grouped.write(pa.Table.from_batches([batch], schema=SCHEMA))
            grouped.flush()


Corpus = Path | CorpusLocation  # a local corpus folder, or any location


def _manifest_source(corpus: Corpus) -> Any:
    if isinstance(corpus, CorpusLocation):
        return corpus.open_file(MANIFEST)
    return Path(corpus) / MANIFEST


def _split_rows(corpus: Corpus, split: str, columns: list[str]) -> Iterator[dict[str, Any]]:
    """`columns` of every row of `split` in id order, read batch by batch, so memory does not
    grow with the corpus."""
    wanted = ["id", "split", *(c for c in columns if c not in ("id", "split"))]
    for batch in row_group_batches(pq.ParquetFile(_manifest_source(corpus)), columns=wanted):
        table = batch.to_pydict()
        for i, row_split in enumerate(table["split"]):
            if row_split == split:
                yield {column: table[column][i] for column in wanted}


def split_captions(
    corpus: Corpus, split: str, exclude_ids: Collection[str] = frozenset()
) -> Iterator[str]:
    """Every caption of `split`'s samples, in id order (the manifest's), minus `exclude_ids`:
    no shard is opened."""
    exclude_ids = frozenset(exclude_ids)
    for row in _split_rows(corpus, split, ["captions"]):
        if row["id"] not in exclude_ids:
            yield from row["captions"]


def split_concepts(
    corpus: Corpus,
    split: str,
    exclude_ids: Collection[str] = frozenset(),
    sources: Collection[str] | None = None,
) -> Iterator[str]:
    """Every sample's concept name of `split`, in id order, minus `exclude_ids`; only those of
    `sources` when given."""
    exclude_ids = frozenset(exclude_ids)
    for row in _split_rows(corpus, split, ["concept", "source"]):
        if row["id"] not in exclude_ids and (sources is None or row["source"] in sources):
            yield row["concept"]


def shard_counts(
    corpus: Corpus, split: str, exclude_ids: Collection[str] = frozenset()
) -> dict[str, int]:
    """Samples per shard of `split`, minus `exclude_ids` (a shard may count 0), from the
    manifest alone."""
    return {shard: n for shard, (n, _) in shard_index(corpus, split, exclude_ids).items()}


def shard_index(
    corpus: Corpus, split: str, exclude_ids: Collection[str] = frozenset()
) -> dict[str, tuple[int, tuple[str, ...]]]:
    """Per shard of `split`: (samples kept, the keys of those excluded), from the manifest
    alone: what a streaming reader needs to skip whole shards by count and drop the excluded
    samples of the others."""
    exclude_ids = frozenset(exclude_ids)
    kept: dict[str, int] = {}
    dropped: dict[str, list[str]] = {}
    for row in _split_rows(corpus, split, ["shard", "key"]):
        shard = row["shard"]
        kept.setdefault(shard, 0)
        dropped.setdefault(shard, [])
        if row["id"] in exclude_ids:
            dropped[shard].append(row["key"])
        else:
            kept[shard] += 1
    return {shard: (kept[shard], tuple(sorted(dropped[shard]))) for shard in sorted(kept)}


def read_manifest(data_dir: Path, columns: list[str] | None = None) -> pa.Table:
    """The manifest of a built corpus (all columns unless told)."""
    return pq.read_table(Path(data_dir) / MANIFEST, columns=columns)
