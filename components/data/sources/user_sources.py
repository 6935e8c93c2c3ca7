"""The user's own image-text data (data.user_sources): tables or WebDataset shards, local or S3.

Every row or sample becomes an admitted SourceImage or a Rejected entry (never both, never an
aborted build); a source that cannot be read at all is the user's mistake (DataSourceError).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from components.checks.limits import SampleLimits
from components.data.corpus.raw_text import as_bytes
from components.data.corpus.records import SourceImage
from components.data.corpus.rejections import Rejected, count_reasons
from components.data.fetch.fetch_log import FetchRecord
from components.data.fetch.http_client import FetchPolicy
from components.data.fetch.ray_fetch import FetchPlan
from components.data.fetch.web_fetcher import WebFetcher
from components.data.s3 import S3Store
from components.data.sources.user_admission import admit
from components.data.sources.user_shards import load_shards
from components.data.sources.user_tables import is_table, load_table
from components.settings import DataConfig, S3Access

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UserData:
    images: list[SourceImage]  # admitted, in source order
    rejected: list[Rejected]  # in source order
    provenance: list[dict[str, Any]]  # one entry per source, for the card
    fetched: list[FetchRecord] = field(default_factory=list)  # every http(s) URL's answer


class FetchContext(NamedTuple):
    """Where URLs are fetched and what answered them before."""

    ray_address: str | None = None  # None: a local Ray, started only if a URL is fetched
    ray_temp_dir: str = "/tmp/ray-clip-pipeline"
    previous: Path | None = None  # the corpus being rebuilt: its fetched.parquet


def _provenance(
    location: str, kind: str, images: list[SourceImage], rejected: list[Rejected]
) -> dict[str, Any]:
    """What the card records: the source, its counts, and a digest of exactly what was read."""
    digest = hashlib.sha256()
    for image in images:
        assert image.data is not None  # user images are always read up front
        digest.update(hashlib.sha256(image.data).digest())
        digest.update("\x1f".join((*image.captions, image.license)).encode("utf-8") + b"\x1e")
    for r in rejected:
        digest.update(as_bytes("\x1f".join((r.reference, r.reason, r.sha256 or ""))) + b"\x1e")
    entry: dict[str, Any] = {
        "location": location,
        "kind": kind,
        "samples": len(images),
        "content_sha256": digest.hexdigest(),
    }
    if rejected:
        entry["rejected"] = count_reasons(rejected)
    return entry


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


def load_user_sources(
    cfg: DataConfig,
    limits: SampleLimits,
    workers: int,
    s3: S3Access | None = None,
    fetching: FetchContext | None = None,
) -> UserData:
    """Every sample of every source, checked at the source, in the order given; S3 reached
    as `s3` says (default: AWS, with boto3's own credential sources); http(s) URLs fetched on
    the Ray cluster of `fetching` (default: a local Ray), reusing its previous corpus's answers."""
    s3 = s3 or S3Access()
    store = S3Store(s3)  # connects only if a source is on S3
    fetching = fetching or FetchContext()
    limits_recorded = limits.model_dump(mode="json")  # as the card records them
    with WebFetcher(fetch_plan(cfg, limits, s3), limits_recorded, *fetching) as fetcher:
        return _load_all(cfg, limits, workers, store, fetcher)


def _load_all(
    cfg: DataConfig, limits: SampleLimits, workers: int, store: S3Store, fetcher: WebFetcher
) -> UserData:
    images: list[SourceImage] = []
    rejected: list[Rejected] = []
    provenance: list[dict[str, Any]] = []
    first_with: dict[str, str] = {}  # duplicates are found across sources
    for location in cfg.user_sources:
        kind = "table" if is_table(location) else "webdataset"
        if kind == "table":
            items = load_table(location, store, cfg.user_roots, limits, fetcher)
        else:
            items = load_shards(location, store, limits)
        kept, refused = admit(items, limits, workers, first_with)
        images += kept
        rejected += refused
        provenance.append(_provenance(location, kind, kept, refused))
        reasons = ", ".join(f"{n} {reason}" for reason, n in count_reasons(refused).items())
        log.info(
            "user %s %s: %d samples admitted, %d rejected%s",
            kind, location, len(kept), len(refused), f" ({reasons})" if reasons else "",
        )  # fmt: skip
    if fetcher.records:
        log.info("user URLs: %d fetched, %d answered by the previous corpus", fetcher.fetched,
                 fetcher.reused)  # fmt: skip
    return UserData(images, rejected, provenance, fetcher.records)
