"""Which manifest rows repeat an id or an image hash that an earlier row holds, found by
grouping (hash buckets spilled to disk), so the check covers the whole manifest in bounded
memory where GX sees one chunk at a time."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from components.checks.reasons import Problem, Reason
from components.validation.grouping import HashBuckets, bucket_count, with_first_holder

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_SIZE = 5

_SCHEMA = pa.schema([("value", pa.string()), ("pos", pa.int64()), ("id", pa.string())])


@dataclass(frozen=True)
class UniqueFindings:
    column: str
    missing: bool  # the manifest has no such column: nothing could be checked
    unexpected_count: int  # rows whose value some other row has too (every copy, as GX counts)
    sample: tuple[str, ...]  # those rows' values, by position, at most SAMPLE_SIZE
    problems: dict[int, Problem]  # the later copies: the earliest row keeps the value


def _text(value: object) -> str | None:
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None  # a missing value is the not-null expectation's to report
    return str(value)


def _short(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class UniqueColumns:
    """Feed it the manifest's chunks in order; then ask each column's findings."""

    def __init__(self, columns: list[str], n_rows: int, scratch: Path | None) -> None:
        buckets = bucket_count(n_rows)
        self.columns = columns
        self.needs = list(dict.fromkeys(["id", *columns]))
        self._buckets = {c: HashBuckets("value", _SCHEMA, buckets, scratch) for c in columns}
        self._seen_columns: set[str] | None = None

    def add(self, chunk: pd.DataFrame) -> None:
        self._seen_columns = set(map(str, chunk.columns))
        ids = chunk["id"] if "id" in chunk.columns else None
        for column, buckets in self._buckets.items():
            if column not in chunk.columns:
                continue
            rows = (
                {"value": value, "pos": int(pos), "id": _text(ids.loc[pos]) if ids is not None
                 else None}
                for pos, value in zip(chunk.index, map(_text, chunk[column]), strict=True)
                if value is not None
            )  # fmt: skip
            buckets.add(rows)

    def result(self, column: str, reason: Reason) -> UniqueFindings:
        if self._seen_columns is not None and column not in self._seen_columns:
            return UniqueFindings(column, True, 0, (), {})
        buckets = self._buckets[column]
        copies = 0
        sample: list[tuple[int, str]] = []
        problems: dict[int, Problem] = {}
        for rows in buckets:
            holders = list(with_first_holder(rows, "value"))
            counts: dict[str, int] = {}
            for row, _ in holders:
                counts[row["value"]] = counts.get(row["value"], 0) + 1
            for row, holder in holders:
                if counts[row["value"]] < 2:
                    continue
                copies += 1
                sample = heapq.nsmallest(SAMPLE_SIZE, [*sample, (row["pos"], row["value"])])
                if holder is not row:
                    detail = f"{column} {row['value']!r} was already used by id {holder['id']!r}"
                    problems[row["pos"]] = Problem(reason, detail)
        shown = tuple(_short(value) for _, value in sample)
        return UniqueFindings(column, False, copies, shown, problems)

    def __enter__(self) -> UniqueColumns:
        return self

    def __exit__(self, *exc: object) -> None:
        for buckets in self._buckets.values():
            buckets.close()
