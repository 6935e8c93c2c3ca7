"""User data as a table: a .csv or .parquet file (local or s3://) listing images and captions.

Columns: `image` (a path relative to the table's folder, an absolute path, or an s3:// URL) and
`caption`; optional `captions` (a JSON list or '|'-separated extra captions) and `license`.
A table that cannot be read or lacks a column is the user's mistake (DataSourceError); an image
that is missing or does not decode is data: it is kept for the validation gate to reject.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from components.data.errors import DataSourceError, one_line
from components.data.records import SourceImage
from components.data.s3 import S3Store, is_s3, join_url, split_url
from components.data.user_records import parse_captions, text, user_image

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

TABLE_SUFFIXES = (".csv", ".parquet")
REQUIRED = ("image", "caption")
NEEDS = "a user table needs an 'image' column (path or s3:// URL) and a 'caption' column"


def is_table(location: str) -> bool:
    return location.lower().endswith(TABLE_SUFFIXES)


def _parse(location: str, raw: bytes) -> pd.DataFrame:
    import pandas as pd

    kind = "CSV" if location.lower().endswith(".csv") else "parquet"
    try:
        if kind == "CSV":  # every cell as text, empty cells as '' (not NaN)
            return pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
        return pd.read_parquet(io.BytesIO(raw))
    except Exception as err:  # pandas/pyarrow raise many types for one meaning: unreadable
        raise DataSourceError(
            f"cannot read user table {location} as {kind} ({one_line(err)}); check that the "
            f"file is a valid {kind} file"
        ) from err


def _read_local(location: str) -> bytes:
    try:
        return Path(location).read_bytes()
    except OSError as err:
        reason = "no such file" if isinstance(err, FileNotFoundError) else one_line(err)
        raise DataSourceError(
            f"cannot read user table {location}: {reason}; fix the path in data.user_sources"
        ) from err


def _resolve(ref: str, location: str) -> str:
    """Where a row's image lives: an s3:// URL or an absolute local path."""
    if is_s3(ref) or Path(ref).is_absolute():
        return ref
    if is_s3(location):  # relative to the table's "folder" in the bucket
        bucket, key = split_url(location)
        folder = key.rpartition("/")[0]
        return join_url(bucket, f"{folder}/{ref}" if folder else ref)
    return str(Path(location).absolute().parent / ref)


def _image_bytes(where: str, row: int, location: str, store: S3Store) -> bytes:
    """The image's bytes; b"" when the file is missing, so the row reaches the validation gate
    and is quarantined as zero_bytes (one lost image should not stop a whole build)."""
    if not where:
        return b""
    if is_s3(where):
        data = store.read_if_exists(where)
    else:
        try:
            data = Path(where).read_bytes()
        except FileNotFoundError:
            data = None
        except OSError as err:  # exists but unreadable: permissions, a folder...
            raise DataSourceError(
                f"cannot read image {where} (row {row} of {location}): {one_line(err)}; "
                "make the file readable or remove the row"
            ) from err
    if data is None:
        log.warning("image %s (row %d of %s) is missing; kept as empty", where, row, location)
        return b""
    return data


def load_table(location: str, store: S3Store) -> list[SourceImage]:
    """One user SourceImage per table row, in row order."""
    raw = store.read(location) if is_s3(location) else _read_local(location)
    table = _parse(location, raw)
    missing = [column for column in REQUIRED if column not in table.columns]
    if missing:
        have = ", ".join(map(str, table.columns)) or "none"
        raise DataSourceError(
            f"user table {location} has no {' or '.join(map(repr, missing))} column (its "
            f"columns: {have}); {NEEDS}"
        )
    if table.empty:
        raise DataSourceError(f"user table {location} has no rows; add rows or remove it")
    images: list[SourceImage] = []
    for row, record in enumerate(table.to_dict("records"), start=1):
        if isinstance(record["image"], bytes | bytearray):
            raise DataSourceError(
                f"user table {location} holds image bytes in its 'image' column (row {row}); "
                "it must hold paths or s3:// URLs of the image files"
            )
        ref = text(record["image"]).strip()
        where = _resolve(ref, location) if ref else ""
        images.append(
            user_image(
                origin=where or f"{location}#row{row}",
                data=_image_bytes(where, row, location, store),
                caption=text(record["caption"]),
                extra=parse_captions(record.get("captions")),
                license_=text(record.get("license")),
            )
        )
    return images
