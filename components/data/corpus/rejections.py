"""rejected.parquet: the user samples the build refused, written beside the manifest.

A rejected input's bytes are never stored: this file keeps what the user gave (the reference),
the reason, one sentence of detail and, where the bytes were read, their sha256. The validation
gate adds these rows to its quarantine report and counts them against max_rejected_fraction.
Written only when data.user_sources is set, so the default corpus stays what it was.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from components.checks.reasons import Problem, Reason
from components.data.corpus.parquet_batches import row_group_batches
from components.data.corpus.raw_text import printable

REJECTED = "rejected.parquet"

SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("reference", pa.string()),
        ("row", pa.int64()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("sha256", pa.string()),
    ]
)


@dataclass(frozen=True)
class Rejected:
    source: str  # the entry of data.user_sources it came from
    reference: str  # what the user gave: the table's image cell, or shard#key
    row: int | None  # the table's row, counted from 1 below the header; None in shards
    reason: Reason
    detail: str
    sha256: str | None = None  # of the bytes, where they were read

    @classmethod
    def of(
        cls,
        source: str,
        reference: str,
        row: int | None,
        problem: Problem,
        sha256: str | None = None,
    ) -> Rejected:
        detail = f"row {row}: {problem.detail}" if row is not None else problem.detail
        return cls(source, reference, row, problem.reason, detail, sha256)


def _row(r: Rejected) -> dict:
    return {
        "source": printable(r.source),
        "reference": printable(r.reference),
        "row": r.row,
        "reason": r.reason.value,
        "detail": printable(r.detail),
        "sha256": r.sha256,
    }


class RejectedWriter:
    """rejected.parquet written as refusals arrive, in the order given (the sources' order,
    then rows); fixed options keep the bytes stable. An empty file when nothing was refused."""

    def __init__(self, path: Path) -> None:
        self._writer = pq.ParquetWriter(path, SCHEMA, compression="zstd", store_schema=True)
        self.total = 0

    def write(self, rejected: Iterable[Rejected]) -> None:
        rows = [_row(r) for r in rejected]
        if rows:
            self._writer.write_table(pa.Table.from_pylist(rows, schema=SCHEMA))
            self.total += len(rows)

    def __enter__(self) -> RejectedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.total == 0:  # a file with a schema and no row group
            self._writer.write_table(pa.Table.from_pylist([], schema=SCHEMA))
        self._writer.close()


def iter_rejected(data_dir: Path) -> Iterator[Rejected]:
    """The build's rejections of the corpus in `data_dir`, a row group at a time (nothing when
    it had no user sources)."""
    path = Path(data_dir) / REJECTED
    if not path.is_file():
        return
    for batch in row_group_batches(pq.ParquetFile(path)):
        for row in batch.to_pylist():
            yield Rejected(**{**row, "reason": Reason(row["reason"])})


def read_rejected(data_dir: Path) -> list[Rejected]:
    """`iter_rejected` as a list."""
    return list(iter_rejected(data_dir))


def count_reasons(rejected: Iterable[Rejected]) -> dict[str, int]:
    return dict(sorted(Counter(r.reason.value for r in rejected).items()))
