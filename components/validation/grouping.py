"""Grouping rows by a key in bounded memory: hash buckets spilled to parquet.

The gate must find every later copy of an id, an image hash or a pixel hash, and gather each
shard's rows, in a manifest of any length. Rows are partitioned by a hash of their key into
buckets of at most about BUCKET_ROWS rows, written to parquet in a scratch folder; a bucket holds
every row of each of its keys, so each is grouped alone, in memory, one at a time.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

BUCKET_ROWS = 50_000  # rows grouped in memory at once: about 60 MB of short strings as dicts


def bucket_count(n_rows: int) -> int:
    return max(1, -(-n_rows // BUCKET_ROWS))


def _bucket_of(key: str, buckets: int) -> int:
    # a stable hash (Python's hash() is salted per process)
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8)
                          .digest(), "little") % buckets  # fmt: skip


class HashBuckets:
    """Rows ({column: value}, one column named by `key`) spilled to `buckets` parquet files by
    the hash of their key. With one bucket nothing is written: rows stay in memory."""

    FLUSH_ROWS = 16_384  # rows buffered in all buckets together before they are written

    def __init__(self, key: str, schema: pa.Schema, buckets: int, scratch: Path | None) -> None:
        self.key, self.schema, self.buckets = key, schema, buckets
        self._pending: list[list[dict[str, Any]]] = [[] for _ in range(buckets)]
        self._pending_rows = 0
        self._writers: dict[int, pq.ParquetWriter] = {}
        self._folder: tempfile.TemporaryDirectory | None = None
        if buckets > 1:
            self._folder = tempfile.TemporaryDirectory(dir=scratch, prefix="gate-buckets-")

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            index = 0 if self.buckets == 1 else _bucket_of(str(row[self.key]), self.buckets)
            self._pending[index].append(row)
            self._pending_rows += 1
            if self.buckets > 1 and self._pending_rows >= self.FLUSH_ROWS:
                # the buffer is shared: more buckets must not mean more rows held
                for each in range(self.buckets):
                    self._flush(each)
                self._pending_rows = 0

    def _flush(self, index: int) -> None:
        assert self._folder is not None
        rows, self._pending[index] = self._pending[index], []
        if not rows:
            return
        writer = self._writers.get(index)
        if writer is None:
            path = Path(self._folder.name) / f"{index:05d}.parquet"
            writer = self._writers[index] = pq.ParquetWriter(path, self.schema)
        writer.write_table(pa.Table.from_pylist(rows, schema=self.schema))

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        """Each bucket's rows, sorted by position ('pos'), one bucket at a time."""
        if self.buckets == 1:
            yield sorted(self._pending[0], key=lambda row: row["pos"])
            return
        for index in range(self.buckets):
            self._flush(index)
        for writer in self._writers.values():
            writer.close()
        for index in sorted(self._writers):
            assert self._folder is not None
            rows = pq.read_table(Path(self._folder.name) / f"{index:05d}.parquet").to_pylist()
            yield sorted(rows, key=lambda row: row["pos"])

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        if self._folder is not None:
            self._folder.cleanup()

    def __enter__(self) -> HashBuckets:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def with_first_holder(rows: list[dict[str, Any]], key: str) -> Iterator[tuple[dict, dict]]:
    """(row, the earliest row with the same key) for each of one bucket's rows (sorted by
    position): a row is a later copy when its holder is another row."""
    first: dict[Any, dict[str, Any]] = {}
    for row in rows:
        yield row, first.setdefault(row[key], row)
