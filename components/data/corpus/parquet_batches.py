"""Reading a parquet file in memory bounded by one row group, whatever the file's length.

`ParquetFile.iter_batches` over a whole file keeps what it has decoded of earlier row groups
until the iteration ends (pyarrow 25, measured: a 160k-row file of 500-row groups took 60 MB
of Arrow memory to iterate in 64k-row batches, 0.7 MB one row group at a time), so every
reader that must stay flat in the corpus size asks for one row group per call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

# rows per row group of the files the build writes past a few thousand rows: one group decoded
# at a time costs a few MB, and a 10M-row file keeps a footer of ~600 groups
GROUP_ROWS = 16_384


def row_group_batches(
    parquet: pq.ParquetFile, batch_size: int = GROUP_ROWS, columns: Sequence[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """The file's rows in order, in batches of at most `batch_size` that never span two row
    groups; the Arrow pool is released after each group."""
    wanted = list(columns) if columns is not None else None
    for group in range(parquet.num_row_groups):
        yield from parquet.iter_batches(batch_size=batch_size, row_groups=[group], columns=wanted)
        pa.default_memory_pool().release_unused()


class GroupedWriter:
    """Writes tables to a ParquetWriter in row groups of exactly `group_rows` (the last one
    fewer), however the tables given are sized: many small writes do not make a footer that
    grows with the number of writes."""

    def __init__(self, writer: pq.ParquetWriter, group_rows: int = GROUP_ROWS) -> None:
        self.writer, self.group_rows = writer, group_rows
        self._pending: list[pa.Table] = []
        self._held = 0

    def write(self, table: pa.Table) -> None:
        self._pending.append(table)
        self._held += table.num_rows
        while self._held >= self.group_rows:
            whole = pa.concat_tables(self._pending)
            self.writer.write_table(whole.slice(0, self.group_rows))
            rest = whole.slice(self.group_rows)
            self._pending, self._held = ([rest] if rest.num_rows else []), rest.num_rows

    def flush(self) -> None:
        """Write what is held as a (short) row group of its own."""
        if self._held:
            self.writer.write_table(pa.concat_tables(self._pending))
        self._pending, self._held = [], 0

    def close(self) -> None:
        """Flush, then close the file."""
        self.flush()
        self.writer.close()
