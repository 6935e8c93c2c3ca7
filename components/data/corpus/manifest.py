"""manifest.parquet: one row per sample, the corpus's index (validation reads it; so do tests)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from components.artifacts import MANIFEST_FILE

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


def write_manifest(rows: list[dict[str, Any]], path: Path) -> None:
    """Rows sorted by (split, id); a fixed schema and writer options keep the file byte-stable."""
    ordered = sorted(rows, key=lambda row: (row["split"], row["id"]))
    table = pa.Table.from_pylist(ordered, schema=SCHEMA)
    pq.write_table(table, path, compression="zstd", store_schema=True)


def _split_rows(
    data_dir: Path, split: str, exclude_ids: Collection[str], column: str
) -> Iterator[tuple[bool, Any]]:
    """(kept, `column`'s value) of every row of `split` in id order, `kept` False for the
    excluded ids; read batch by batch, so memory does not grow with the corpus."""
    exclude_ids = frozenset(exclude_ids)
    columns = ["id", "split", column]
    for batch in pq.ParquetFile(Path(data_dir) / MANIFEST).iter_batches(columns=columns):
        rows = batch.to_pydict()
        for sample_id, row_split, value in zip(
            rows["id"], rows["split"], rows[column], strict=True
        ):
            if row_split == split:
                yield sample_id not in exclude_ids, value


def split_captions(
    data_dir: Path, split: str, exclude_ids: Collection[str] = frozenset()
) -> Iterator[str]:
    """Every caption of `split`'s samples, in id order (the manifest's), minus `exclude_ids`:
    no shard is opened."""
    for kept, captions in _split_rows(data_dir, split, exclude_ids, "captions"):
        if kept:
            yield from captions


def shard_counts(
    data_dir: Path, split: str, exclude_ids: Collection[str] = frozenset()
) -> dict[str, int]:
    """Samples per shard of `split`, minus `exclude_ids` (a shard may count 0), from the
    manifest alone."""
    counts: dict[str, int] = {}
    for kept, shard in _split_rows(data_dir, split, exclude_ids, "shard"):
        counts[shard] = counts.get(shard, 0) + kept
    return counts


def read_manifest(data_dir: Path, columns: list[str] | None = None) -> pa.Table:
    """The manifest of a built corpus (all columns unless told)."""
    return pq.read_table(Path(data_dir) / MANIFEST, columns=columns)
