"""Build the corpus: fetch the packages (and read any user data), pick concepts and splits,
render, shard, index.

Output (in `out_dir`, the project's `data/`): `shards/{split}-{index:05d}.tar`,
`manifest.parquet` and `card.json`. The same parameters and sources give the same bytes. The
packages' samples are planned whole (a few thousand); the user's stream through in windows
(sources/user_sources.py) into rolling shards numbered after the packages'
(corpus/rolling_shards.py), so the build's memory does not grow with the user's data.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from components.checks.limits import SampleLimits
from components.data.corpus.card import CARD, CardTally, write_card
from components.data.corpus.manifest import MANIFEST, write_manifest
from components.data.corpus.plan import (
    PlannedSample,
    content_split_samples,
    plan_samples,
    shard_order,
)
from components.data.corpus.records import SourceImage
from components.data.corpus.rejections import REJECTED, RejectedWriter
from components.data.corpus.render import render_all
from components.data.corpus.rolling_shards import RollingShards, ShardWriter, WriteHere
from components.data.corpus.shard_store import S3Shards, ShardStore, shard_store
from components.data.corpus.stored_sample import manifest_row, sample_files
from components.data.errors import DataSourceError
from components.data.fetch.fetch_log import FETCHED
from components.data.ray_session import ray_session
from components.data.sources.debian_sources import load_debian_sources
from components.data.sources.located_shards import ShardsOnRay
from components.data.sources.noto_emoji import load_noto
from components.data.sources.npm_packages import fetch_npm_package, parse_spec, tarball_path
from components.data.sources.openmoji import load_openmoji
from components.data.sources.twemoji import load_twemoji
from components.data.sources.user_sources import FetchContext, UserReport, ingest_user_sources
from components.settings import DataConfig, S3Access
from components.tracking.hashing import sha256_file

__all__ = ["PlannedSample", "build_corpus", "plan_samples"]

log = logging.getLogger(__name__)

Loader = Callable[[Path, bool], list[SourceImage]]
# which reader understands which npm package (the spec's version is free to change)
LOADERS: dict[str, Loader] = {
    "emoji-datasource-google": load_noto,
    "emoji-datasource-twitter": load_twemoji,
    "openmoji": load_openmoji,
}
MAX_WORKERS = 8
# DataConfig keys that are off when empty; left out of the card then, so that turning nothing
# on leaves the default corpus byte-identical to one built before these keys existed
OPTIONAL_KEYS = (
    "extra_train_packages", "extra_heldout_packages", "user_sources", "user_roots",
    "debian_sources", "output",
)  # fmt: skip
# keys that only mean something with debian_sources on: left out of the card otherwise
DEBIAN_ONLY_KEYS = ("debian_max_images_per_source", "label_set_max_per_class")
USER_ONLY_KEYS = ("max_stored_side",)
# how URLs are fetched changes what is fetched only through failures, which fetched.parquet
# records: left out of the card, so a retry with more patience does not make another corpus;
# nor does how it is versioned
NOT_CORPUS_KEYS = (
    "dvc_local_cache",  # how the corpus is versioned, not what it holds
    "fetch_timeout_s", "fetch_deadline_s", "fetch_retries", "fetch_max_redirects",
    "fetch_actors", "fetch_threads",
    "check_on_ray_from_samples", "build_on_ray",  # where samples are checked, not which
)  # fmt: skip


def _load(spec: str, sources_dir: Path, include_skin_tones: bool) -> tuple[list[SourceImage], dict]:
    name, version = parse_spec(spec)
    loader = LOADERS.get(name)
    if loader is None:
        known = ", ".join(sorted(LOADERS))
        raise DataSourceError(f"no reader for npm package {name!r} (known: {known})")
    images = loader(fetch_npm_package(spec, sources_dir), include_skin_tones)
    tarball = tarball_path(spec, sources_dir)
    provenance = {
        "spec": spec,
        "name": name,
        "version": version,
        "tarball_sha256": sha256_file(tarball) if tarball.is_file() else None,
        "images_available": len(images),
    }
    return images, provenance


def _load_extra_styles(
    cfg: DataConfig, sources_dir: Path, taken: set[str], packages: list[str], role: str
) -> tuple[list[SourceImage], list[dict[str, Any]]]:
    """Images of every extra training (or held-out) package; each must be a style not already
    in the corpus (training on a held-out style would void its zero-shot test)."""
    images: list[SourceImage] = []
    provenance: list[dict[str, Any]] = []
    for spec in packages:
        loaded, source = _load(spec, sources_dir, cfg.include_skin_tones)
        styles = {image.source for image in loaded}
        if styles & taken:
            raise DataSourceError(
                f"extra {role} package {spec} draws the {', '.join(sorted(styles & taken))} "
                "style the corpus already has; list each style once: trained on or held out"
            )
        taken |= styles
        images += loaded
        provenance.append(source)
    return images, provenance


def _write_shards(
    planned: list[PlannedSample], store: ShardStore, cfg: DataConfig, workers: int
) -> list[dict[str, Any]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    rendered = render_all([p.image for p in planned], cfg.image_size, cfg.max_stored_side, workers)
    rows: list[dict[str, Any]] = []
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns) as progress:
        task = progress.add_task("rendering images", total=len(planned))
        for split, group in itertools.groupby(planned, key=lambda p: p.split):
            items = list(group)
            for index in range(0, len(items), cfg.samples_per_shard):
                members: dict[str, dict[str, bytes]] = {}
                shard_rows = []
                for item in items[index : index + cfg.samples_per_shard]:
                    image = next(rendered)
                    members[item.id] = sample_files(item, image)
                    shard_rows.append(manifest_row(item, image, ""))  # named once stored
                    progress.advance(task)
                shard = store.put(split, index // cfg.samples_per_shard, members)
                rows += [{**row, "shard": shard} for row in shard_rows]
    return rows


def _write_user_samples(
    cfg: DataConfig,
    limits: SampleLimits,
    workers: int,
    root: Path,
    store: ShardStore,
    scratch: Path,
    package_rows: list[dict[str, Any]],
    tally: CardTally,
    s3: S3Access | None,
    fetching: FetchContext,
) -> tuple[UserReport, list[Path]]:
    """Stream the user's samples into shards after the packages' (numbered on from them, per
    split), a window at a time: split by content, the training split scattered within the
    window, stored (a photo as given, or resized), written as each shard fills. Returns what
    the sources reported and the user's manifest parts, one per split."""
    from rich.progress import MofNCompleteColumn, Progress, TimeElapsedColumn

    first_index = Counter(split for split, _ in {(r["split"], r["shard"]) for r in package_rows})
    writer: ShardWriter = WriteHere(store)
    if cfg.build_on_ray:
        writer = ShardsOnRay(root, cfg.output, s3 or S3Access(), cfg.max_stored_side)
    shards = RollingShards(writer, scratch, cfg.samples_per_shard, first_index, tally.add)
    with Progress("{task.description}", MofNCompleteColumn(), TimeElapsedColumn()) as progress:
        task = progress.add_task("storing user samples", total=None)

        def put(images: list[SourceImage]) -> None:
            planned = shard_order(content_split_samples(cfg, images), cfg.seed)
            in_hand = [p.image for p in planned if p.image.data is not None]
            stored = render_all(in_hand, cfg.image_size, cfg.max_stored_side, workers)
            for item in planned:  # an image left in its source shard is read by its writer
                shards.add(item, next(stored) if item.image.data is not None else item.image.at)
            progress.advance(task, len(planned))

        with RejectedWriter(root / REJECTED) as refused:
            report = ingest_user_sources(
                cfg, limits, workers, put, refused.write,
                scratch=scratch, s3=s3, fetching=fetching, fetch_log=root / FETCHED,
            )  # fmt: skip
        shards.close()
    return report, shards.parts()


def _card_params(cfg: DataConfig, limits: SampleLimits) -> dict[str, Any]:
    params = {k: v for k, v in cfg.model_dump(mode="json").items() if k not in NOT_CORPUS_KEYS}
    if not cfg.debian_sources:
        params = {k: v for k, v in params.items() if k not in DEBIAN_ONLY_KEYS}
    if not cfg.user_sources:
        params = {
            k: v for k, v in params.items() if k not in (*USER_ONLY_KEYS, "fetch_private_addresses")
        }
    params = {k: v for k, v in params.items() if k not in OPTIONAL_KEYS or v}
    if cfg.user_sources:  # the limits decide which user samples are in
        params["user_sample_limits"] = limits.model_dump(mode="json")
    return params


def _swap_in(built: Path, out_dir: Path) -> None:
    """Replace `out_dir` by `built` with two renames, then delete the old corpus."""
    old = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
    had_old = out_dir.exists()
    if had_old:
        out_dir.rename(old)
    try:
        built.rename(out_dir)
    except OSError:
        if had_old:  # put the previous corpus back rather than leave no corpus at all
            old.rename(out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def build_corpus(
    cfg: DataConfig,
    sources_dir: Path,
    out_dir: Path,
    *,
    limits: SampleLimits | None = None,
    workers: int | None = None,
    s3: S3Access | None = None,
    fetching: FetchContext | None = None,
) -> dict[str, Any]:
    """Build the corpus into `out_dir` and return its card.

    Everything is written to a temporary sibling of `out_dir` that replaces it only once
    complete, so a failed build leaves the previous corpus (or nothing) in place. User samples
    are checked against `limits` (the validate section; its defaults when None) at the source:
    the rejected ones are listed in rejected.parquet and none of their bytes is stored.
    `workers` threads check and rasterise images (default: the machine's cores, at most 8);
    `s3` reaches user sources on S3 (default: AWS with boto3's own credential sources);
    `fetching` says which Ray cluster fetches http(s) URLs (default: a local one); the previous
    corpus in `out_dir` answers the URLs it fetched already (fetched.parquet).
    """
    sources_dir, out_dir = Path(sources_dir), Path(out_dir).absolute()
    limits = limits or SampleLimits()
    workers = workers or min(os.cpu_count() or 1, MAX_WORKERS)
    train, train_source = _load(cfg.train_package, sources_dir, cfg.include_skin_tones)
    heldout, heldout_source = _load(cfg.heldout_package, sources_dir, cfg.include_skin_tones)
    sources: dict[str, Any] = {"train": train_source, "heldout": heldout_source}
    taken = {image.source for image in [*train, *heldout]}
    extra, sources["extra_train"] = _load_extra_styles(
        cfg, sources_dir, taken, cfg.extra_train_packages, "training"
    )
    more_heldout, sources["extra_heldout"] = _load_extra_styles(
        cfg, sources_dir, taken, cfg.extra_heldout_packages, "held-out"
    )
    debian, sources["debian"] = load_debian_sources(cfg, workers)
    planned = plan_samples(cfg, train, heldout, extra, debian, more_heldout)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.building-"))
    try:
        building.chmod(0o755)  # mkdtemp makes it private; the corpus is an ordinary folder
        with tempfile.TemporaryDirectory(
            dir=out_dir.parent, prefix=f".{out_dir.name}.scratch-"
        ) as scratch:
            store = shard_store(building, cfg.output, s3, Path(scratch))
            rows = _write_shards(shard_order(planned, cfg.seed), store, cfg, workers)
            tally = CardTally(Path(scratch))
            tally.add(rows)
            user, parts = None, []
            if cfg.user_sources:
                fetching = (fetching or FetchContext())._replace(previous=out_dir)
                on_ray = ray_session(*fetching[:2]) if cfg.build_on_ray else nullcontext()
                with on_ray:
                    user, parts = _write_user_samples(
                        cfg, limits, workers, building, store, Path(scratch), rows, tally, s3,
                        fetching,
                    )  # fmt: skip
                sources["user"] = user.provenance
            write_manifest(rows, building / MANIFEST, parts)
            card = tally.card(_card_params(cfg, limits), {k: v for k, v in sources.items() if v})
            tally.close()
        if isinstance(store, S3Shards):
            print(f"[data] shards at {cfg.output}: {store.uploaded} uploaded "
                  f"({store.uploaded_bytes / 1e6:.1f} MB), {store.kept} already there",
                  flush=True)  # fmt: skip
        if user is not None:  # what the source checks refused: references, never bytes
            card["rejected"] = {
                "total": sum(user.rejected.values()),
                **dict(sorted(user.rejected.items())),
            }
        write_card(card, building / CARD)
        _swap_in(building, out_dir)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    log.info("built %d samples into %s: %s", card["counts"]["samples"], out_dir,
             card["counts"]["by_split"])  # fmt: skip
    return card
