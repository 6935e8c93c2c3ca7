"""The user's own image-text data (data.user_sources): tables or WebDataset shards, local or S3.

Every row or sample becomes an admitted SourceImage or a Rejected entry (never both, never an
aborted build); a source that cannot be read at all is the user's mistake (DataSourceError).
The sources are streamed a window of samples at a time: what is admitted or refused goes to the
caller's sinks window by window, so memory holds one window's bytes, whatever the corpus size.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from components.checks.limits import SampleLimits
from components.checks.reasons import Problem, Reason
from components.data.corpus.raw_text import as_bytes
from components.data.corpus.records import SourceImage
from components.data.corpus.rejections import Rejected
from components.data.fetch.http_client import FetchPolicy
from components.data.fetch.ray_fetch import FetchPlan
from components.data.fetch.web_fetcher import WebFetcher
from components.data.s3 import S3Store
from components.data.sources.seen_images import SeenImages
from components.data.sources.shard_scan import scanned_samples
from components.data.sources.user_admission import Verdict
from components.data.sources.user_records import UserCandidate, user_image
from components.data.sources.user_shards import load_shards
from components.data.sources.user_tables import is_table, load_table
from components.data.sources.window_checks import WindowChecks
from components.settings import DataConfig, S3Access

log = logging.getLogger(__name__)

WINDOW = 1024  # samples checked together (and held in memory) at a time
WINDOW_BYTES = 256 * 2**20  # ... or fewer, when their images hold this many bytes

AdmittedSink = Callable[[list[SourceImage]], None]  # one window's admitted samples, in order
RejectedSink = Callable[[list[Rejected]], None]


class FetchContext(NamedTuple):
    """Where URLs are fetched and what answered them before."""

    ray_address: str | None = None  # None: a local Ray, started only if a URL is fetched
    ray_temp_dir: str = "/tmp/ray-clip-pipeline"
    previous: Path | None = None  # the corpus being rebuilt: its fetched.parquet


class _SourceTally:
    """One source's counts and a digest of exactly what was read, in source order."""

    def __init__(self, location: str, kind: str) -> None:
        self.location, self.kind = location, kind
        self.samples = 0
        self.reasons: Counter[str] = Counter()
        self._digest = hashlib.sha256()

    def admitted(self, image: SourceImage, sha256: str) -> None:
        self.samples += 1
        self._digest.update(bytes.fromhex(sha256))
        self._digest.update("\x1f".join((*image.captions, image.license)).encode("utf-8") + b"\x1e")

    def refused(self, reference: str, reason: Reason, sha256: str | None) -> None:
        self.reasons[reason.value] += 1
        fields = "\x1f".join((reference, reason.value, sha256 or ""))
        self._digest.update(as_bytes(fields) + b"\x1e")

    def provenance(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "location": self.location,
            "kind": self.kind,
            "samples": self.samples,
            "content_sha256": self._digest.hexdigest(),
        }
        if self.reasons:
            entry["rejected"] = dict(sorted(self.reasons.items()))
        return entry


@dataclass
class UserReport:
    provenance: list[dict[str, Any]] = field(default_factory=list)  # one entry per source
    rejected: Counter[str] = field(default_factory=Counter)  # by reason, every source
    urls_logged: int = 0  # answers written to the fetch log
    windows_on_ray: int = 0  # windows checked by Ray tasks (data.check_on_ray_from_samples)


class _Duplicate(NamedTuple):
    source: str
    reference: str
    row: int | None
    sha256: str
    holder: int  # position of the admitted sample with the same key


def fetch_plan(cfg: DataConfig, limits: SampleLimits, s3: S3Access | None = None) -> FetchPlan:
    policy = FetchPolicy(
        timeout_s=cfg.fetch_timeout_s,
        deadline_s=cfg.fetch_deadline_s,
        retries=cfg.fetch_retries,
        max_redirects=cfg.fetch_max_redirects,
        max_bytes=limits.max_image_bytes,
        private_addresses=cfg.fetch_private_addresses,
    )
    return FetchPlan(policy, actors=cfg.fetch_actors, threads=cfg.fetch_threads, s3=s3)


def ingest_user_sources(
    cfg: DataConfig,
    limits: SampleLimits,
    workers: int,
    admitted: AdmittedSink,
    rejected: RejectedSink,
    *,
    scratch: Path,
    s3: S3Access | None = None,
    fetching: FetchContext | None = None,
    fetch_log: Path | None = None,
) -> UserReport:
    """Stream every sample of every source, checked at the source, in the order given, to
    `admitted` and `rejected` one window at a time; duplicates are refused at the end (their
    detail names the holder, read back from `scratch`). S3 is reached as `s3` says (default:
    AWS, with boto3's own credential sources); http(s) URLs are fetched on the Ray cluster of
    `fetching` (default: a local Ray), reusing its previous corpus's answers; every URL's
    answer goes to `fetch_log` (fetched.parquet), written only when a URL was met."""
    s3 = s3 or S3Access()
    store = S3Store(s3)  # connects only if a source is on S3
    fetching = fetching or FetchContext()
    limits_recorded = limits.model_dump(mode="json")  # as the card records them
    report = UserReport()
    seen = SeenImages(scratch)
    duplicates: list[_Duplicate] = []  # few, and small: the holders' references come last
    try:
        with (
            WebFetcher(
                fetch_plan(cfg, limits, s3),
                limits_recorded,
                *fetching,
                log_to=fetch_log,
                scratch=scratch,
            ) as fetcher,
            ThreadPoolExecutor(max_workers=workers) if workers > 1 else nullcontext() as pool,
            WindowChecks(limits, pool, cfg.check_on_ray_from_samples, fetching[:2]) as checks,
        ):
            for location in cfg.user_sources:
                kind = "table" if is_table(location) else "webdataset"
                if kind == "table":
                    items = load_table(location, store, cfg.user_roots, limits, fetcher)
                    windows = checks.checked(_windows(items))
                elif cfg.build_on_ray:  # read and checked by Ray tasks; the bytes stay there
                    windows = _scanned_windows(scanned_samples(location, s3, limits))
                else:
                    windows = checks.checked(_windows(load_shards(location, store, limits)))
                tally = _SourceTally(location, kind)
                for window, verdicts in windows:
                    kept, refused = _admit(window, verdicts, seen, tally, duplicates)
                    admitted(kept)
                    rejected(refused)
                report.provenance.append(tally.provenance())
                report.rejected.update(tally.reasons)
                _log_source(tally)
            report.urls_logged = fetcher.log.rows if fetcher.log is not None else 0
            report.windows_on_ray = checks.windows_on_ray
            if checks.windows_on_ray:
                log.info("user samples: %d windows checked on Ray", checks.windows_on_ray)
            if report.urls_logged:
                log.info("user URLs: %d fetched, %d answered by the previous corpus",
                         fetcher.fetched, fetcher.reused)  # fmt: skip
        rejected(_refused_duplicates(duplicates, seen))
    finally:
        seen.close()
    return report


def _image_bytes(item: UserCandidate | Rejected) -> int:
    """The bytes a sample's image holds, in hand or where it lies (a build on Ray)."""
    if not isinstance(item, UserCandidate):
        return 0
    return item.at.size if item.at is not None else len(item.data)


def _windows(items: Iterable[UserCandidate | Rejected]) -> Iterator[list]:
    """WINDOW items at a time, fewer when their images reach WINDOW_BYTES (64 MiB images are
    allowed: a count alone would not bound the memory)."""
    window: list[UserCandidate | Rejected] = []
    held = 0
    for item in items:
        window.append(item)
        held += _image_bytes(item)
        if len(window) == WINDOW or held >= WINDOW_BYTES:
            yield window
            window, held = [], 0
    if window:
        yield window


def _scanned_windows(
    scanned: Iterable[tuple[UserCandidate | Rejected, Verdict | None]],
) -> Iterator[tuple[list, list[Verdict]]]:
    """The windows `_windows` cuts from the same samples, each with its candidates' verdicts
    (checked by pass 1): the same corpus either way."""
    verdicts: dict[int, Verdict] = {}  # id(item) -> verdict, for the window in hand only

    def items() -> Iterator[UserCandidate | Rejected]:
        for item, verdict in scanned:
            if verdict is not None:
                verdicts[id(item)] = verdict
            yield item

    for window in _windows(items()):
        yield window, [verdicts.pop(id(item)) for item in window if id(item) in verdicts]


def _admit(
    window: list[UserCandidate | Rejected],
    verdicts_in_order: list[Verdict],
    seen: SeenImages,
    tally: _SourceTally,
    duplicates: list[_Duplicate],
) -> tuple[list[SourceImage], list[Rejected]]:
    """One checked window (a verdict per candidate), in order: (admitted samples, refusals);
    a later copy of admitted bytes goes to `duplicates`."""
    verdicts = iter(verdicts_in_order)
    kept: list[SourceImage] = []
    refused: list[Rejected] = []
    for item in window:
        if isinstance(item, Rejected):
            refused.append(item)
            tally.refused(item.reference, item.reason, item.sha256)
            continue
        sha, verdict = next(verdicts)
        if isinstance(verdict, Problem):
            refused.append(Rejected.of(item.source, item.reference, item.row, verdict, sha))
            tally.refused(item.reference, verdict.reason, sha)
            continue
        holder = seen.first_holder(sha)
        if holder is not None:
            duplicates.append(_Duplicate(item.source, item.reference, item.row, sha, holder))
            tally.refused(item.reference, Reason.DUPLICATE_IMAGE, sha)
            continue
        seen.add(sha, len(seen), item.reference)
        image = user_image(item, verdict, sha)
        kept.append(image)
        tally.admitted(image, sha)
    return kept, refused


def _refused_duplicates(duplicates: list[_Duplicate], seen: SeenImages) -> list[Rejected]:
    """The later copies, in source order, each naming the sample that kept its bytes. Two
    different images whose sha256 share their first 64 bits would share a sample id too: the
    later one is refused as well, and the detail says so."""
    holders = seen.holders({d.holder for d in duplicates})
    refused = []
    for d in duplicates:
        reference, sha = holders[d.holder]
        detail = f"same bytes as {reference!r}"
        if sha != d.sha256:
            detail = f"same sample id as {reference!r} (their sha256 share the first 64 bits)"
        problem = Problem(Reason.DUPLICATE_IMAGE, detail)
        refused.append(Rejected.of(d.source, d.reference, d.row, problem, d.sha256))
    return refused


def _log_source(tally: _SourceTally) -> None:
    refused = sum(tally.reasons.values())
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(tally.reasons.items()))
    log.info(
        "user %s %s: %d samples admitted, %d rejected%s",
        tally.kind, tally.location, tally.samples, refused, f" ({reasons})" if reasons else "",
    )  # fmt: skip


@dataclass(frozen=True)
class UserData:
    """Everything the sources gave, held in memory: for small inputs and tests (the build
    streams with `ingest_user_sources`)."""

    images: list[SourceImage]  # admitted, in source order
    rejected: list[Rejected]  # in source order, the duplicates last
    provenance: list[dict[str, Any]]  # one entry per source, for the card


def load_user_sources(
    cfg: DataConfig,
    limits: SampleLimits,
    workers: int,
    s3: S3Access | None = None,
    fetching: FetchContext | None = None,
) -> UserData:
    """`ingest_user_sources` collected into lists."""
    images: list[SourceImage] = []
    rejected: list[Rejected] = []
    with tempfile.TemporaryDirectory(prefix="user-sources-") as scratch:
        report = ingest_user_sources(
            cfg, limits, workers, images.extend, rejected.extend,
            scratch=Path(scratch), s3=s3, fetching=fetching,
        )  # fmt: skip
    return UserData(images, rejected, report.provenance)
