"""User data as a table: a .csv or .parquet file (local or s3://) listing images and captions.

Columns: `image` (a path relative to the table's folder, an absolute path, an s3:// URL or an
http(s) URL) or `url` (img2dataset's name for it; used where `image` is absent or empty), and
`caption`; optional `captions` (a JSON list or '|'-separated extra captions) and `license`.
A table that cannot be read or lacks a column is the user's mistake (DataSourceError). Its rows
are data: each one yields a candidate (its image read from inside the roots, or fetched) or a
rejection, and one bad row never costs another: a CSV is split into rows before any cell is
decoded, so a byte that is not UTF-8 rejects its own row only. S3 objects and http(s) URLs are
fetched on Ray Data, a window of rows at a time (components/data/fetch/).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from components.checks.limits import SampleLimits
from components.checks.reasons import Problem, Reason
from components.data.corpus.raw_text import as_bytes
from components.data.corpus.rejections import Rejected
from components.data.errors import DataSourceError, one_line
from components.data.fetch.http_client import check_web_url
from components.data.fetch.web_fetcher import WebFetcher
from components.data.s3 import READ_CHUNK, S3RangeFile, S3Store, is_s3
from components.data.sources.confined_read import read_local
from components.data.sources.confinement import Roots, WebUrl, resolve_reference, table_roots
from components.data.sources.user_records import UserCandidate, parse_captions, text

log = logging.getLogger(__name__)

TABLE_SUFFIXES = (".csv", ".parquet")
REFERENCE_COLUMNS = ("image", "url")  # either names where the image is
NEEDS = (
    "a user table needs an 'image' or 'url' column (a path, s3:// or http(s):// URL) and a "
    "'caption' column"
)
WINDOW_ROWS = 4096  # rows read, and their URLs fetched (one Ray Data run), at a time


@dataclass(frozen=True)
class TableRow:
    number: int  # counted from 1 below the header
    image: str
    captions: tuple[bytes, ...]  # the caption cell first, then the extra ones
    license: str


def is_table(location: str) -> bool:
    return location.lower().endswith(TABLE_SUFFIXES)


@contextmanager
def _open_table(location: str, store: S3Store) -> Iterator[IO[bytes]]:
    """The table as a binary file: a local one streamed from disk; an S3 one by ranged GETs of
    READ_CHUNK bytes (a CSV streamed, a parquet file read by its footer and row groups)."""
    if is_s3(location):
        with io.BufferedReader(S3RangeFile(store, location, READ_CHUNK)) as handle:
            yield handle
        return
    try:
        handle = open(location, "rb")  # noqa: SIM115 (closed below, after the rows)
    except OSError as err:
        reason = "no such file" if isinstance(err, FileNotFoundError) else one_line(err)
        raise DataSourceError(
            f"cannot read user table {location}: {reason}; fix the path in data.user_sources"
        ) from err
    with handle:
        yield handle


def _require_columns(location: str, columns: Sequence[str]) -> None:
    missing = [] if any(c in columns for c in REFERENCE_COLUMNS) else ["image"]
    missing += [] if "caption" in columns else ["caption"]
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
        text(cells.get("image")).strip() or text(cells.get("url")),
        tuple(as_bytes(c) for c in [text(cells["caption"]), *extra]),
        text(cells.get("license")),
    )


def _csv_rows(location: str, handle: IO[bytes]) -> Iterator[TableRow | Rejected]:
    # read as a stream of lines; bytes that are not UTF-8 stay as surrogates: the caption check
    # rejects their row alone; a leading byte-order mark is dropped ("utf-8-sig")
    lines = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(lines)
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
            image = header.index("image" if "image" in header else "url")
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


def _parquet_rows(location: str, handle: IO[bytes]) -> Iterator[TableRow | Rejected]:
    """A batch of one row group at a time: the table is never held whole (a row group is: its
    size is the writer's choice)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from components.data.corpus.parquet_batches import row_group_batches

    try:
        parquet = pq.ParquetFile(handle)
    except Exception as err:  # pyarrow raises many types for one meaning: unreadable
        raise DataSourceError(
            f"cannot read user table {location} as parquet ({one_line(err)}); check that the "
            "file is a valid parquet file"
        ) from err
    _require_columns(location, parquet.schema_arrow.names)
    if parquet.metadata.num_rows == 0:
        raise DataSourceError(f"user table {location} has no rows; add rows or remove it")
    number = 0
    try:
        for batch in row_group_batches(parquet, WINDOW_ROWS):
            rows = _parquet_batch(location, pa.Table.from_batches([batch]), number)
            yield from rows
            number += batch.num_rows
    except (pa.ArrowException, OSError) as err:  # a damaged row group past the footer
        raise DataSourceError(
            f"cannot read user table {location} past row {number} ({one_line(err)}); check "
            "that the file is a valid parquet file"
        ) from err


def _parquet_batch(location: str, table: Any, before: int) -> list[TableRow | Rejected]:
    """The rows of one batch (numbered after the `before` rows of earlier batches)."""
    references = {c: _text_column(table, c) for c in REFERENCE_COLUMNS if c in table.column_names}
    captions = _text_column(table, "caption")
    refused = None
    not_text = [column for column, cells in references.items() if cells is None]
    if not_text:
        refused = Problem(
            Reason.IMAGE_FIELD_NOT_TEXT,
            f"the {not_text[0]!r} column is {table.column(not_text[0]).type}, not paths or URLs",
        )
    elif captions is None:
        refused = Problem(
            Reason.CAPTION_NOT_TEXT, f"the 'caption' column is {table.column('caption').type}"
        )
    if refused is not None:
        if before == 0:
            log.warning("user table %s: %s; its rows are rejected", location, refused.detail)
        numbers = range(before + 1, before + table.num_rows + 1)
        return [Rejected.of(location, f"{location}#row{n}", n, refused) for n in numbers]
    extras = table.column("captions").to_pylist() if "captions" in table.column_names else None
    licenses = None
    if "license" in table.column_names:  # text as the other columns; a number is its digits
        licenses = _text_column(table, "license") or table.column("license").to_pylist()
    rows: list[TableRow | Rejected] = []
    for i in range(table.num_rows):
        cells = {column: cells[i] for column, cells in references.items() if cells is not None}
        cells["caption"] = captions[i]
        cells["captions"] = extras[i] if extras is not None else None
        cells["license"] = licenses[i] if licenses is not None else None
        rows.append(_row(before + i + 1, cells))
    return rows


def _window(
    location: str,
    window: list[TableRow | Rejected],
    roots: Roots,
    limits: SampleLimits,
    fetcher: WebFetcher,
) -> Iterator[UserCandidate | Rejected]:
    """A window of rows in order: local files read here; S3 objects and web URLs (a str: an
    s3:// URL inside the roots, or a WebUrl) fetched together, on Ray Data."""
    where: dict[int, str | Path | WebUrl | Problem] = {}
    for row in window:
        if isinstance(row, TableRow):
            found = resolve_reference(row.image, location, roots)
            if isinstance(found, WebUrl):
                found = check_web_url(found, fetcher.plan.policy) or found
            where[row.number] = found
    web = [(n, url) for n, url in where.items() if isinstance(url, str)]
    answers = dict(zip([n for n, _ in web], fetcher.fetch([url for _, url in web]), strict=True))
    for row in window:
        if isinstance(row, Rejected):
            yield row
            continue
        found, sha256 = where[row.number], None
        if row.number in answers:
            fetched = answers[row.number]
            data = fetched.problem if fetched.problem is not None else fetched.data
            sha256 = fetched.sha256
        elif isinstance(found, Problem):
            data = found
        else:
            assert isinstance(found, Path)  # every URL went to the fetcher
            data = read_local(found, roots, limits)
        if isinstance(data, Problem):
            yield Rejected.of(location, row.image, row.number, data, sha256)
        else:
            yield UserCandidate(location, row.image, row.number, data, row.captions, row.license)


def load_table(
    location: str,
    store: S3Store,
    user_roots: Sequence[str],
    limits: SampleLimits,
    fetcher: WebFetcher,
) -> Iterator[UserCandidate | Rejected]:
    """One candidate or rejection per table row, in row order. An image is read only once its
    reference resolved inside the roots (data.user_roots, else the table's own folder); an
    http(s) URL is fetched by `fetcher`."""
    parse = _csv_rows if location.lower().endswith(".csv") else _parquet_rows
    roots = table_roots(location, user_roots)
    window: list[TableRow | Rejected] = []
    with _open_table(location, store) as handle:
        for row in parse(location, handle):
            window.append(row)
            if len(window) == WINDOW_ROWS:
                yield from _window(location, window, roots, limits, fetcher)
                window = []
    yield from _window(location, window, roots, limits, fetcher)
