"""Shards written as samples stream in: per split, a shard is written each time
`samples_per_shard` samples have arrived, so a shard's samples are all that is ever held.

The build writes the packages' samples first (a few thousand, planned whole); the user's
samples follow through these writers, their shards numbered after the packages' of the same
split. Each closed shard's manifest rows go to a per-split parquet part and to the card tally.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from components.data.corpus.images import Rendered
from components.data.corpus.manifest import SCHEMA
from components.data.corpus.parquet_batches import GroupedWriter
from components.data.corpus.plan import PlannedSample
from components.data.corpus.shard_store import ShardStore
from components.data.corpus.stored_sample import manifest_row, sample_files

RowsSink = Callable[[list[dict[str, Any]]], None]


class _SplitShards:
    def __init__(self, store: ShardStore, split: str, first_index: int, part: Path) -> None:
        self.store, self.split, self.index = store, split, first_index
        self.members: dict[str, dict[str, bytes]] = {}
        self.rows: list[dict[str, Any]] = []
        self.part = part
        self.writer: GroupedWriter | None = None

    def add(self, item: PlannedSample, image: Rendered) -> None:
        self.members[item.id] = sample_files(item, image)
        self.rows.append(manifest_row(item, image, ""))  # its shard's name once stored

    def close_shard(self, on_rows: RowsSink) -> None:
        if not self.members:
            return
        shard = self.store.put(self.split, self.index, self.members)
        rows = sorted(self.rows, key=lambda row: row["id"])  # the archive's order
        for row in rows:
            row["shard"] = shard
        if self.writer is None:  # row groups of many shards: a footer of one per shard would grow
            self.writer = GroupedWriter(pq.ParquetWriter(self.part, SCHEMA, compression="zstd"))
        self.writer.write(pa.Table.from_pylist(rows, schema=SCHEMA))
        on_rows(rows)
        self.members, self.rows = {}, []
        self.index += 1


class RollingShards:
    """Add (sample, stored image) pairs in order; `close()` writes the last partial shards.
    `parts()` are then the per-split manifest parts, in split order."""

    def __init__(
        self,
        store: ShardStore,
        scratch: Path,
        samples_per_shard: int,
        first_index: dict[str, int],
        on_rows: RowsSink,
    ) -> None:
        self.store, self.scratch, self.per_shard = store, scratch, samples_per_shard
        self.first_index, self.on_rows = first_index, on_rows
        self.splits: dict[str, _SplitShards] = {}

    def add(self, item: PlannedSample, image: Rendered) -> None:
        split = self.splits.get(item.split)
        if split is None:
            part = self.scratch / f"manifest-{item.split}.parquet"
            first = self.first_index.get(item.split, 0)
            split = self.splits[item.split] = _SplitShards(self.store, item.split, first, part)
        split.add(item, image)
        if len(split.members) == self.per_shard:
            split.close_shard(self.on_rows)

    def close(self) -> None:
        for split in self.splits.values():
            split.close_shard(self.on_rows)
            if split.writer is not None:
                split.writer.close()
                split.writer = None

    def parts(self) -> list[Path]:
        return [
            self.splits[name].part
            for name in sorted(self.splits)
            if self.splits[name].part.exists()
        ]
