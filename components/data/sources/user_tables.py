"""User data as a table: a .csv or .parquet file (local or s3://) listing images and captions.

Columns: `image` (a path relative to the table's folder, an absolute path, or an s3:// URL) and
`caption`; optional `captions` (a JSON list or '|'-separated extra captions) and `license`.
A table that cannot be read or lacks a column is the user's mistake (DataSourceError). Its rows
are data: each one yields a candidate (its image read from inside the roots) or a rejection, and
one bad row never costs another: a CSV is split into rows before any cell is decoded, so a
byte that is not UTF-8 rejects its own row only.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.checks.limits import SampleLimits
from components.checks.reasons import Problem, Reason
from components.data.corpus.raw_text import as_bytes
from components.data.corpus.rejections import Rejected
from components.data.errors import DataSourceError, one_line
from components.data.s3 import S3Store, is_s3
from components.data.sources.confined_read import read_image
from components.data.sources.confinement import resolve_reference, table_roots
from components.data.sources.user_records import UserCandidate, parse_captions, text

log = logging.getLogger(__name__)

TABLE_SUFFIXES = (".csv", ".parquet")
REQUIRED = ("image", "caption")
NEEDS = "a user table needs an 'image' column (path or s3:// URL) and a 'caption' column"
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class TableRow:
    number: int  # counted from 1 below the header
    image: str
    captions: tuple[bytes, ...]  # the caption cell first, then the extra ones
    license: str


def is_table(location: str) -> bool:
    return location.lower().endswith(TABLE_SUFFIXES)


def _read_local(location: str) -> bytes:
    try:
        return Path(location).read_bytes()
    except OSError as err:
        reason = "no such file" if isinstance(err, FileNotFoundError) else one_line(err)
        raise DataSourceError(
            f"cannot read user table {location}: {reason}; fix the path in data.user_sources"
        ) from err


def _require_columns(location: str, columns: Sequence[str]) -> None:
    missing = [column for column in REQUIRED if column not in columns]
    if missing:
        have = ", ".join(map(str, columns)) or "none"
        raise DataSourceError(
            f"user table {location} has no {' or '.join(map(repr, missing))} column (its "
            f"columns: {have}); {NEEDS}"
        )


def _row(number: int, cells: dict[str, Any]) -> TableRow:
    extra = parse_captions(cells.get("captions"))
    return TableRow(
        number,
        text(cells["image"]),
        tuple(as_bytes(c) for c in [text(cells["caption"]), *extra]),
        text(cells.get("license")),
    )


def _csv_rows(location: str, raw: bytes) -> Iterator[TableRow | Rejected]:
    # bytes that are not UTF-8 stay as surrogates: the caption check rejects their row alone
    decoded = raw.removeprefix(BOM).decode("utf-8", "surrogateescape")
    reader = csv.reader(io.StringIO(decoded, newline=""))
    try:
        header = next((fields for fields in reader if fields), None)
    except csv.Error as err:
        raise DataSourceError(f"cannot read the header of user table {location}: {err}") from err
    if header is None:
        raise DataSourceError(f"user table {location} is empty; add rows or remove it")
    header = [name.strip() for name in header]
    _require_columns(location, header)
    number = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as err:  # e.g. a field above the csv module's size limit
            number += 1
            problem = Problem(Reason.MALFORMED_ROW, f"the CSV parser stopped: {err}")
            yield Rejected.of(location, f"{location}#row{number}", number, problem)
            continue
        if not fields:  # a blank line is no row
            continue
        number += 1
        if len(fields) != len(header):
            problem = Problem(
                Reason.MALFORMED_ROW, f"it has {len(fields)} fields, the header {len(header)}"
            )
            image = header.index("image")
            reference = fields[image] if len(fields) > image else ""
            yield Rejected.of(location, reference, number, problem)
            continue
        yield _row(number, dict(zip(header, fields, strict=True)))
    if number == 0:
        raise DataSourceError(f"user table {location} has no rows; add rows or remove it")


def _text_column(table: Any, name: str) -> list[Any] | None:
    """A column's cells as Python values, strings decoded from their bytes (surrogateescape, so
    a cell that is not UTF-8 reaches the row check instead of failing the table); None when the
    column holds something else than text (numbers, bytes, dates)."""
    import pyarrow as pa

    column = table.column(name)
    if pa.types.is_null(column.type):
        return [None] * len(column)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        raw = column.cast(pa.large_binary()).to_pylist()
        return [None if v is None else v.decode("utf-8", "surrogateescape") for v in raw]
    return None


def _parquet_rows(location: str, raw: bytes) -> Iterator[TableRow | Rejected]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(raw))
    except Exception as err:  # pyarrow raises many types for one meaning: unreadable
        raise DataSourceError(
            f"cannot read user table {location} as parquet ({one_line(err)}); check that the "
            "file is a valid parquet file"
        ) from err
    _require_columns(location, table.column_names)
    if table.num_rows == 0:
        raise DataSourceError(f"user table {location} has no rows; add rows or remove it")
    images, captions = _text_column(table, "image"), _text_column(table, "caption")
    refused = None
    if images is None:
        refused = Problem(
            Reason.IMAGE_FIELD_NOT_TEXT,
            f"the 'image' column is {table.column('image').type}, not paths or s3:// URLs",
        )
    elif captions is None:
        refused = Problem(
            Reason.CAPTION_NOT_TEXT, f"the 'caption' column is {table.column('caption').type}"
        )
    if refused is not None:
        log.warning("user table %s: %s; its %d rows are rejected", location, refused.detail,
                    table.num_rows)  # fmt: skip
        for number in range(1, table.num_rows + 1):
            yield Rejected.of(location, f"{location}#row{number}", number, refused)
        return
    extras = table.column("captions").to_pylist() if "captions" in table.column_names else None
    licenses = None
    if "license" in table.column_names:  # text as the other columns; a number is its digits
        licenses = _text_column(table, "license") or table.column("license").to_pylist()
    for i in range(table.num_rows):
        cells = {"image": images[i], "caption": captions[i]}
        cells["captions"] = extras[i] if extras is not None else None
        cells["license"] = licenses[i] if licenses is not None else None
        yield _row(i + 1, cells)


def load_table(
    location: str, store: S3Store, user_roots: Sequence[str], limits: SampleLimits
) -> Iterator[UserCandidate | Rejected]:
    """One candidate or rejection per table row, in row order. An image is read only once its
    reference resolved inside the roots (data.user_roots, else the table's own folder)."""
    raw = store.read(location) if is_s3(location) else _read_local(location)
    parse = _csv_rows if location.lower().endswith(".csv") else _parquet_rows
    rows = parse(location, raw)
    roots = table_roots(location, user_roots)
    for row in rows:
        if isinstance(row, Rejected):
            yield row
            continue
        where = resolve_reference(row.image, location, roots)
        data = where if isinstance(where, Problem) else read_image(where, roots, store, limits)
        if isinstance(data, Problem):
            yield Rejected.of(location, row.image, row.number, data)
        else:
            yield UserCandidate(location, row.image, row.number, data, row.captions, row.license)
