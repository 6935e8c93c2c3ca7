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
object's ETag (from a listing of its folder) is the one logged: an object can change under its
key; a failed S3 read is always tried again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from components.checks.reasons import Problem, Reason
from components.data.corpus.card import CARD
from components.data.corpus.manifest import MANIFEST
from components.data.corpus.raw_text import printable
from components.data.corpus.rejections import read_rejected
from components.data.corpus.webdataset import image_part, iter_shard
from components.data.fetch.http_client import Fetched
from components.data.s3 import is_s3

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
    """A previous corpus's answers, by URL; its stored images read back only when asked for.
    Its image verdicts stand only when it was built with the same sample limits."""

    def __init__(self, corpus: Path, limits: dict[str, object]) -> None:
        self.corpus = Path(corpus)
        self.by_url: dict[str, dict[str, object]] = {}
        self.stored: dict[str, tuple[str, str]] = {}  # image sha256 -> (shard, key)
        self.verdicts: dict[str, Problem] = {}  # sha256 -> what the image checks said
        log, manifest = self.corpus / FETCHED, self.corpus / MANIFEST
        if not (log.is_file() and manifest.is_file()) or _limits_of(self.corpus) != limits:
            return
        for row in pq.read_table(log).to_pylist():
            self.by_url[row["url"]] = row
        wanted = {row["sha256"] for row in self.by_url.values() if row["sha256"]}
        columns = ["image_sha256", "shard", "key"]
        for row in pq.read_table(manifest, columns=columns).to_pylist():
            if row["image_sha256"] in wanted:  # stored as given: the bytes that were fetched
                self.stored[row["image_sha256"]] = (row["shard"], row["key"])
        for rejected in read_rejected(self.corpus):
            if rejected.sha256 in wanted and rejected.reason in IMAGE_VERDICTS:
                detail = _ROW_PREFIX.sub("", rejected.detail)
                self.verdicts[rejected.sha256] = Problem(rejected.reason, detail)

    def answers(
        self, urls: list[str], etags: Callable[[list[str]], dict[str, str]]
    ) -> dict[str, Fetched]:
        """The answers that stand for `urls`: failures for good, and images stored as given.
        An S3 object's stand only while its ETag now (`etags`: URL -> ETag, from a listing)
        is the one logged; a failed S3 read is always tried again."""
        found: dict[str, Fetched] = {}
        wanted: dict[str, list[tuple[str, str]]] = defaultdict(list)  # shard -> (key, url)
        logged_s3 = [u for u in urls if is_s3(u) and self.by_url.get(u, {}).get("etag")]
        now = etags(logged_s3) if logged_s3 else {}
        for url in urls:
            row = self.by_url.get(url)
            if row is None:
                continue
            if is_s3(url) and (row["reason"] or not row.get("etag") or now.get(url) != row["etag"]):
                continue
            if row["reason"]:
                reason = Reason(row["reason"])
                if reason not in TRANSIENT:
                    problem = Problem(reason, str(row["detail"]))
                    found[url] = Fetched(None, problem, row["http_status"], attempts=0)
            elif row["sha256"] in self.verdicts:
                sha = str(row["sha256"])
                found[url] = Fetched(None, self.verdicts[sha], row["http_status"], 0, sha)
            elif row["sha256"] in self.stored:
                shard, key = self.stored[str(row["sha256"])]
                wanted[shard].append((key, url))
        for shard, keys in wanted.items():
            by_key = dict(keys)
            for key, parts in iter_shard(self.corpus / shard):
                image = image_part(parts) if key in by_key else None
                if image is not None:
                    url = by_key[key]
                    status, etag = self.by_url[url]["http_status"], self.by_url[url].get("etag")
                    found[url] = Fetched(image[1], None, status, attempts=0, etag=etag)
        # a stored image must still be the bytes the log names (the corpus may have been edited)
        return {
            url: fetched
            for url, fetched in found.items()
            if fetched.data is None
            or hashlib.sha256(fetched.data).hexdigest() == self.by_url[url]["sha256"]
        }

    def logged(self, url: str) -> dict[str, object]:
        return self.by_url[url]
