"""Parquet read and written in bounded memory: one row group at a time, groups of a fixed size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from components.data.corpus.parquet_batches import GroupedWriter, row_group_batches
from components.settings import PROJECT_ROOT

SCHEMA = pa.schema([("n", pa.int64()), ("text", pa.string())])


def _table(start: int, rows: int) -> pa.Table:
    numbers = list(range(start, start + rows))
    return pa.table({"n": numbers, "text": [f"caption {i} " * 8 for i in numbers]}, schema=SCHEMA)


def _write_in_groups(path: Path, rows: int, group_rows: int) -> None:
    with pq.ParquetWriter(path, SCHEMA) as writer:
        for start in range(0, rows, group_rows):
            writer.write_table(_table(start, min(group_rows, rows - start)))


def test_grouped_writer_makes_groups_of_the_size_asked_whatever_the_writes(tmp_path) -> None:
    path = tmp_path / "grouped.parquet"
    with pq.ParquetWriter(path, SCHEMA) as writer:
        grouped = GroupedWriter(writer, group_rows=100)
        start = 0
        for rows in (7, 93, 1, 250, 0, 49, 3):  # 403 rows in writes of every size
            grouped.write(_table(start, rows))
            start += rows
        grouped.flush()
    meta = pq.ParquetFile(path).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sizes == [100, 100, 100, 100, 3]
    assert pq.read_table(path).column("n").to_pylist() == list(range(403))


def test_row_group_batches_never_span_two_groups_and_keep_the_order(tmp_path) -> None:
    path = tmp_path / "many.parquet"
    _write_in_groups(path, rows=1_000, group_rows=64)
    batches = list(row_group_batches(pq.ParquetFile(path), batch_size=50, columns=["n"]))
    assert [b.num_rows for b in batches[:3]] == [50, 14, 50]  # a group of 64: 50, then 14
    assert batches[0].schema.names == ["n"]
    numbers = [n for batch in batches for n in batch.column(0).to_pylist()]
    assert numbers == list(range(1_000))


PROBE = """
import json, sys
import pyarrow as pa, pyarrow.parquet as pq
from components.data.corpus.parquet_batches import row_group_batches
parquet = pq.ParquetFile(sys.argv[1])
batches = (row_group_batches(parquet, 65_536) if sys.argv[2] == "groups"
           else parquet.iter_batches(batch_size=65_536))
rows = sum(batch.num_rows for batch in batches)
print(json.dumps({"rows": rows, "arrow_peak": pa.default_memory_pool().max_memory()}))
"""


def _arrow_peak(path: Path, how: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), how],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(proc.stdout)


def test_reading_a_long_file_costs_one_group_of_memory_not_the_file(tmp_path) -> None:
    """pyarrow's whole-file iter_batches keeps earlier groups' buffers until it ends (the
    reason for row_group_batches): a 40k-row file of 500-row groups, read both ways."""
    path = tmp_path / "long.parquet"
    _write_in_groups(path, rows=40_000, group_rows=500)
    by_group, whole = _arrow_peak(path, "groups"), _arrow_peak(path, "whole")
    assert by_group["rows"] == whole["rows"] == 40_000
    one_group = 500 * len("caption 39999 " * 8) * 2  # a group's text, with room to spare
    assert by_group["arrow_peak"] < 8 * one_group, by_group  # measured: 0.28 MB
    assert whole["arrow_peak"] > 10 * by_group["arrow_peak"], (whole, by_group)  # 10 MB
