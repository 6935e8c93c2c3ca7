"""fetched.parquet: what became of every URL a build fetched, and reuse on a rebuild.

One row per URL (in the sources' order): the URL, the reason it failed ("" when it was
fetched), the detail, the last HTTP status and the sha256 of the bytes. It is part of the
corpus, so it holds nothing that varies between two builds of the same answers (no times, no
attempt counts). A rebuild reads the previous corpus's log: a URL fetched before whose image
the corpus stores as given is taken from the previous shard, and a URL that failed for good
(http_404, not_an_image, file_too_large...) fails the same way, so neither is fetched again;
timeouts, refused connections, 429 and 5xx are tried again. Bytes that were fetched but refused
by the image checks (not_an_image, truncated...) are refused again from rejected.parquet's
sha256, when the sample limits are the same. An s3:// object's answer stands only while the
object's ETag now (S3Store.etags_of) is the one logged: an object can change under its
key; a failed S3 read is always tried again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import tarfile
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from components.checks.reasons import Problem, Reason
from components.data.corpus.card import CARD
from components.data.corpus.location import CorpusLocation
from components.data.corpus.manifest import MANIFEST
from components.data.corpus.parquet_batches import row_group_batches
from components.data.corpus.raw_text import printable
from components.data.corpus.reader import shard_samples
from components.data.corpus.rejections import iter_rejected
from components.data.corpus.webdataset import image_part
from components.data.errors import DataSourceError
from components.data.fetch.http_client import Fetched
from components.data.s3 import is_s3
from components.settings import S3Access

log = logging.getLogger(__name__)

FETCHED = "fetched.parquet"
SCHEMA = pa.schema(
    [
        ("url", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("http_status", pa.int32()),
        ("sha256", pa.string()),
        ("etag", pa.string()),  # an S3 object's: a rebuild reuses it only while it is the same
    ]
)
# may succeed another time: tried again on a rebuild
TRANSIENT = {
    Reason.TIMEOUT, Reason.UNREACHABLE, Reason.HTTP_429, Reason.HTTP_500, Reason.HTTP_502,
    Reason.HTTP_503, Reason.HTTP_504, Reason.HTTP_ERROR,
}  # fmt: skip


# what the image checks say of a URL's bytes: the same bytes under the same limits, the same
# verdict, so a rebuild need not fetch them to refuse them again
IMAGE_VERDICTS = {
    Reason.ZERO_BYTES, Reason.NOT_AN_IMAGE, Reason.TRUNCATED, Reason.CORRUPT_IMAGE,
    Reason.DECOMPRESSION_BOMB, Reason.UNSUPPORTED_MODE, Reason.IMAGE_TOO_SMALL,
    Reason.IMAGE_TOO_LARGE, Reason.EXTREME_ASPECT_RATIO,
}  # fmt: skip
_ROW_PREFIX = re.compile(r"^row \d+: ")
_SQL_PARAMS = 500  # URLs per lookup (SQLite's limit on parameters is 999 in old builds)
_INDEX_TABLES = """
CREATE TABLE log (url TEXT PRIMARY KEY, reason TEXT, detail TEXT, http_status INTEGER,
                  sha256 TEXT, etag TEXT) WITHOUT ROWID;
CREATE TABLE stored (sha256 TEXT PRIMARY KEY, shard TEXT, key TEXT) WITHOUT ROWID;
CREATE TABLE verdicts (sha256 TEXT PRIMARY KEY, reason TEXT, detail TEXT) WITHOUT ROWID;
"""
_PUT_LOG = "INSERT OR REPLACE INTO log VALUES (?, ?, ?, ?, ?, ?)"
# only the hashes the log names: the bytes a URL gave, stored as given
_LOGGED = "WHERE EXISTS (SELECT 1 FROM log WHERE sha256 = ?)"
_PUT_STORED = f"INSERT OR REPLACE INTO stored SELECT ?, ?, ? {_LOGGED}"
_PUT_VERDICT = f"INSERT OR REPLACE INTO verdicts SELECT ?, ?, ? {_LOGGED}"


@dataclass(frozen=True)
class FetchRecord:
    url: str
    fetched: Fetched
    logged: dict[str, object] | None = None  # the previous corpus's row, when it answered

    def row(self) -> dict[str, object]:
        if self.logged is not None:  # a rebuild logs what the first fetch found
            return dict(self.logged)
        problem, data = self.fetched.problem, self.fetched.data
        return {
            "url": printable(self.url),
            "reason": problem.reason.value if problem else "",
            "detail": printable(problem.detail) if problem else "",
            "http_status": self.fetched.http_status,
            "sha256": hashlib.sha256(data).hexdigest() if data is not None else None,
            "etag": self.fetched.etag,
        }


class FetchLogWriter:
    """fetched.parquet written a window of answers at a time (never their bytes: a record
    becomes its row as it arrives); the file appears with the first answer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, records: Iterable[FetchRecord]) -> None:
        rows = [record.row() for record in records]
        if not rows:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(
                self.path, SCHEMA, compression="zstd", store_schema=True
            )
        self._writer.write_table(pa.Table.from_pylist(rows, schema=SCHEMA))
        self.rows += len(rows)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _limits_of(corpus: Path) -> object:
    try:
        card = json.loads((corpus / CARD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return card.get("build", {}).get("user_sample_limits")


class PreviousFetches:
    """A previous corpus's answers, looked up by URL a window at a time; its stored images read
    back only when asked for. Its image verdicts stand only when it was built with the same
    sample limits. The log, the manifest's stored hashes and the image verdicts are loaded a
    row group at a time into an SQLite index on disk (in `scratch`), so a rebuild of 10M URLs
    holds one window's rows in memory, not the previous corpus's."""

    def __init__(
        self,
        corpus: Path,
        limits: dict[str, object],
        scratch: Path | None = None,
        s3: S3Access | None = None,
    ) -> None:
        self.corpus = Path(corpus)
        self.s3 = s3  # reaches the shards the previous corpus keeps on S3 (data.output)
        self._folder = tempfile.TemporaryDirectory(dir=scratch, prefix="previous-fetches-")
        self._db = sqlite3.connect(Path(self._folder.name) / "index.sqlite")
        self._db.executescript(_INDEX_TABLES)
        self._window: dict[str, dict[str, object]] = {}  # the rows of the last answers()
        log, manifest = self.corpus / FETCHED, self.corpus / MANIFEST
        if not (log.is_file() and manifest.is_file()) or _limits_of(self.corpus) != limits:
            return
        with self._db:  # one transaction: a later row of the same URL or hash wins
            for batch in row_group_batches(pq.ParquetFile(log)):
                table = batch.to_pydict()  # a log written before a column existed lacks it
                blank = [None] * batch.num_rows
                columns = [table.get(name, blank) for name in SCHEMA.names]
                self._db.executemany(_PUT_LOG, zip(*columns, strict=True))
            self._db.execute("CREATE INDEX log_sha256 ON log (sha256)")
            stored = ["image_sha256", "shard", "key"]
            for batch in row_group_batches(pq.ParquetFile(manifest), columns=stored):
                rows = zip(*batch.to_pydict().values(), strict=True)
                self._db.executemany(_PUT_STORED, ((s, sh, k, s) for s, sh, k in rows))
            for rejected in iter_rejected(self.corpus):
                if rejected.reason in IMAGE_VERDICTS:
                    detail = _ROW_PREFIX.sub("", rejected.detail)
                    sha = rejected.sha256
                    self._db.execute(_PUT_VERDICT, (sha, rejected.reason.value, detail, sha))

    def close(self) -> None:
        self._db.close()
        self._folder.cleanup()

    def _rows(self, urls: list[str]) -> dict[str, dict[str, object]]:
        found: dict[str, dict[str, object]] = {}
        unique = list(dict.fromkeys(urls))
        for start in range(0, len(unique), _SQL_PARAMS):
            chunk = unique[start : start + _SQL_PARAMS]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT {', '.join(SCHEMA.names)} FROM log WHERE url IN ({marks})"
            for values in self._db.execute(query, chunk):
                found[values[0]] = dict(zip(SCHEMA.names, values, strict=True))
        return found

    def _stored(self, sha256: str) -> tuple[str, str] | None:
        row = self._db.execute("SELECT shard, key FROM stored WHERE sha256 = ?", (sha256,))
        return row.fetchone()

    def _verdict(self, sha256: str) -> Problem | None:
        row = self._db.execute("SELECT reason, detail FROM verdicts WHERE sha256 = ?", (sha256,))
        found = row.fetchone()
        return Problem(Reason(found[0]), found[1]) if found else None

    def answers(
        self, urls: list[str], etags: Callable[[list[str]], dict[str, str]]
    ) -> dict[str, Fetched]:
        """The answers that stand for `urls`: failures for good, and images stored as given.
        An S3 object's stand only while its ETag now (`etags`: URL -> ETag, from a listing)
        is the one logged; a failed S3 read is always tried again."""
        found: dict[str, Fetched] = {}
        wanted: dict[str, list[tuple[str, str]]] = defaultdict(list)  # shard -> (key, url)
        rows = self._window = self._rows(urls)
        logged_s3 = [u for u, row in rows.items() if is_s3(u) and row.get("etag")]
        now = etags(logged_s3) if logged_s3 else {}
        for url, row in rows.items():
            if is_s3(url) and (row["reason"] or not row.get("etag") or now.get(url) != row["etag"]):
                continue
            sha = str(row["sha256"] or "")
            if row["reason"]:
                reason = Reason(row["reason"])
                if reason not in TRANSIENT:
                    problem = Problem(reason, str(row["detail"]))
                    found[url] = Fetched(None, problem, row["http_status"], attempts=0)
            elif sha and (verdict := self._verdict(sha)) is not None:
                found[url] = Fetched(None, verdict, row["http_status"], 0, sha)
            elif sha and (stored := self._stored(sha)) is not None:
                shard, key = stored
                wanted[shard].append((key, url))
        corpus = CorpusLocation.of(self.corpus, self.s3) if wanted else None
        for shard, keys in wanted.items():
            by_key = dict(keys)
            try:
                for key, parts in shard_samples(corpus, shard):
                    image = image_part(parts) if key in by_key else None
                    if image is not None:
                        url = by_key[key]
                        status, etag = rows[url]["http_status"], rows[url].get("etag")
                        found[url] = Fetched(image[1], None, status, attempts=0, etag=etag)
            except (DataSourceError, OSError, tarfile.TarError) as err:  # its URLs are fetched
                log.warning("previous corpus's %s not read (%s): fetching its URLs", shard, err)
        # a stored image must still be the bytes the log names (the corpus may have been edited)
        return {
            url: fetched
            for url, fetched in found.items()
            if fetched.data is None
            or hashlib.sha256(fetched.data).hexdigest() == rows[url]["sha256"]
        }

    def logged(self, url: str) -> dict[str, object]:
        """The logged row of a URL of the last `answers` call."""
        return self._window[url]
