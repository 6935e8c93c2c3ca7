"""The manifest as the gate reads it: column names and row count from the parquet footer, rows
in bounded batches, never the whole table at once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

CHUNK_ROWS = 50_000  # rows in memory at once (GX validates one chunk at a time)


class ManifestTable:
    """A manifest.parquet (read in batches) or a DataFrame a caller already holds. Every frame
    it yields is indexed by the rows' positions in the whole manifest."""

    def __init__(self, source: Path | pd.DataFrame, chunk_rows: int | None = None) -> None:
        self.chunk_rows = chunk_rows or CHUNK_ROWS
        if isinstance(source, Path):
            import pyarrow.parquet as pq

            self._file: pq.ParquetFile | None = pq.ParquetFile(source)
            self._frame = None
            self.columns: tuple[str, ...] = tuple(self._file.schema_arrow.names)
            self.n_rows: int = self._file.metadata.num_rows
        else:
            self._file = None
            self._frame = source.reset_index(drop=True)
            self.columns = tuple(map(str, self._frame.columns))
            self.n_rows = len(self._frame)

    def frames(self, columns: Sequence[str] | None = None) -> Iterator[pd.DataFrame]:
        """The manifest in chunks of at most chunk_rows rows, with only `columns` (those of
        them it has; all when None)."""
        import pandas as pd

        from components.data.corpus.parquet_batches import row_group_batches

        wanted = [c for c in dict.fromkeys(columns or self.columns) if c in self.columns]
        if self._frame is not None:
            for start in range(0, max(self.n_rows, 1), self.chunk_rows):
                yield self._frame.iloc[start : start + self.chunk_rows][wanted]
            return
        assert self._file is not None
        start = 0
        for batch in row_group_batches(self._file, self.chunk_rows, wanted):
            frame = batch.to_pandas()
            frame.index = pd.RangeIndex(start, start + len(frame))
            start += len(frame)
            yield frame
            del frame, batch
        if start == 0:  # an empty manifest still has its columns
            yield self._file.schema_arrow.empty_table().select(wanted).to_pandas()
