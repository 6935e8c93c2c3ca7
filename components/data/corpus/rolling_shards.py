"""Shards written as samples stream in: per split, a shard is written each time
`samples_per_shard` samples have arrived, so a shard's samples are all that is ever held.

The build writes the packages' samples first (a few thousand, planned whole); the user's
samples follow through these writers, their shards numbered after the packages' of the same
split. Who writes a full shard is the `ShardWriter`'s business: the build's own process
(`WriteHere`, with the images in hand), or Ray tasks that read the images where they lie
(sources/located_shards.py); a few shards may be in flight, and their manifest rows are taken
back in the order the shards were cut, so the manifest is the same either way. Each written
shard's rows go to a per-split parquet part and to the card tally.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from components.data.corpus.images import Rendered
from components.data.corpus.manifest import SCHEMA
from components.data.corpus.parquet_batches import GroupedWriter
from components.data.corpus.plan import PlannedSample
from components.data.corpus.records import ImageAt
from components.data.corpus.shard_store import ShardStore
from components.data.corpus.stored_sample import manifest_row, sample_files

RowsSink = Callable[[list[dict[str, Any]]], None]
Pair = tuple[PlannedSample, Rendered | ImageAt]  # a sample and its stored image, or where it is
Rows = Callable[[], list[dict[str, Any]]]  # a written shard's manifest rows, when ready


class ShardWriter(Protocol):
    in_flight: int  # shards submitted and not yet taken back, at most

    def submit(self, split: str, index: int, pairs: list[Pair]) -> Rows:
        """Write shard `index` of `split` (now or later); its rows name the stored shard."""
        ...


class WriteHere:
    """Shards written by the calling process, from stored images in hand."""

    in_flight = 0

    def __init__(self, store: ShardStore) -> None:
        self.store = store

    def submit(self, split: str, index: int, pairs: list[Pair]) -> Rows:
        images = [(item, image) for item, image in pairs if isinstance(image, Rendered)]
        assert len(images) == len(pairs), "WriteHere needs the stored images themselves"
        shard = self.store.put(split, index, {item.id: sample_files(item, i) for item, i in images})
        rows = [manifest_row(item, image, shard) for item, image in images]
        return lambda: rows


class _SplitShards:
    def __init__(self, split: str, first_index: int, part: Path) -> None:
        self.split, self.index = split, first_index
        self.pairs: list[Pair] = []
        self.part = part
        self.writer: GroupedWriter | None = None

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        if self.writer is None:  # row groups of many shards: a footer of one per shard would grow
            self.writer = GroupedWriter(pq.ParquetWriter(self.part, SCHEMA, compression="zstd"))
        self.writer.write(pa.Table.from_pylist(rows, schema=SCHEMA))


class RollingShards:
    """Add (sample, stored image or where it lies) pairs in order; `close()` writes the last
    partial shards and waits for every shard. `parts()` are then the per-split manifest parts,
    in split order."""

    def __init__(
        self,
        writer: ShardWriter,
        scratch: Path,
        samples_per_shard: int,
        first_index: dict[str, int],
        on_rows: RowsSink,
    ) -> None:
        self.writer, self.scratch, self.per_shard = writer, scratch, samples_per_shard
        self.first_index, self.on_rows = first_index, on_rows
        self.splits: dict[str, _SplitShards] = {}
        self._pending: deque[tuple[_SplitShards, Rows]] = deque()

    def add(self, item: PlannedSample, image: Rendered | ImageAt) -> None:
        split = self.splits.get(item.split)
        if split is None:
            part = self.scratch / f"manifest-{item.split}.parquet"
            first = self.first_index.get(item.split, 0)
            split = self.splits[item.split] = _SplitShards(item.split, first, part)
        split.pairs.append((item, image))
        if len(split.pairs) == self.per_shard:
            self._cut(split)
            self._take_back(self.writer.in_flight)

    def _cut(self, split: _SplitShards) -> None:
        if split.pairs:
            self._pending.append((split, self.writer.submit(split.split, split.index, split.pairs)))
            split.pairs = []
            split.index += 1

    def _take_back(self, leave: int) -> None:
        while len(self._pending) > leave:
            split, rows_of = self._pending.popleft()
            rows = sorted(rows_of(), key=lambda row: row["id"])  # the archive's order
            split.write_rows(rows)
            self.on_rows(rows)

    def close(self) -> None:
        for split in self.splits.values():
            self._cut(split)
        self._take_back(0)
        for split in self.splits.values():
            if split.writer is not None:
                split.writer.close()
                split.writer = None

    def parts(self) -> list[Path]:
        return [
            self.splits[name].part
            for name in sorted(self.splits)
            if self.splits[name].part.exists()
        ]
