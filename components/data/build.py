"""Build the corpus: fetch the two packages, pick concepts and splits, render, shard, index.

Output (in `out_dir`, the project's `data/`): `shards/{split}-{index:05d}.tar`,
`manifest.parquet` and `card.json`. The same parameters and packages give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from components.data.card import CARD, make_card, write_card
from components.data.errors import DataSourceError
from components.data.images import render_png
from components.data.manifest import MANIFEST, write_manifest
from components.data.noto_emoji import load_noto
from components.data.npm_packages import fetch_npm_package, parse_spec, tarball_path
from components.data.openmoji import load_openmoji
from components.data.records import SourceImage
from components.data.splits import HELDOUT, TRAIN, VAL, choose_val, select_concepts
from components.data.webdataset import write_shard
from components.settings import DataConfig

log = logging.getLogger(__name__)

Loader = Callable[[Path, bool], list[SourceImage]]
# which reader understands which npm package (the spec's version is free to change)
LOADERS: dict[str, Loader] = {"emoji-datasource-google": load_noto, "openmoji": load_openmoji}
MAX_WORKERS = 8
MIN_IMAGES_FOR_POOL = 64  # below this a pool is not worth starting


@dataclass(frozen=True)
class PlannedSample:
    image: SourceImage
    split: str
    concept: str  # the training package's name for the concept, shared by both styles

    @property
    def id(self) -> str:
        return self.image.sample_id


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
        "tarball_sha256": _sha256_file(tarball) if tarball.is_file() else None,
        "images_available": len(images),
    }
    return images, provenance


def plan_samples(
    cfg: DataConfig, train: list[SourceImage], heldout: list[SourceImage]
) -> list[PlannedSample]:
    """Every sample to build, with its split and concept name, sorted by (split, id)."""
    bases = {image.code: image for image in train if image.code == image.base_code}
    heldout_codes = {image.base_code for image in heldout}
    shared = {code: image.category for code, image in bases.items() if code in heldout_codes}
    if not shared:
        raise DataSourceError(
            f"{cfg.train_package} and {cfg.heldout_package} share no emoji concepts"
        )
    selected = set(select_concepts(shared, cfg.max_concepts, cfg.seed))
    val = choose_val({code: shared[code] for code in selected}, cfg.val_fraction, cfg.seed)
    planned = [
        PlannedSample(image, VAL if image.base_code in val else TRAIN, bases[image.base_code].name)
        for image in train
        if image.base_code in selected
    ] + [
        PlannedSample(image, HELDOUT, bases[image.base_code].name)
        for image in heldout
        if image.base_code in selected
    ]
    ids = [p.id for p in planned]
    if len(set(ids)) != len(ids):
        raise DataSourceError("two source images map to the same sample id")
    return sorted(planned, key=lambda p: (p.split, p.id))


def _render_all(paths: list[Path], size: int, workers: int) -> Iterator[bytes]:
    """Rendered PNGs in input order.

    Threads, not processes: Pillow's decode/resize/zlib release the GIL (about 1.5x on two
    cores), and a spawn-based process pool would re-import the caller's __main__, which
    breaks any flow script without an `if __name__ == "__main__"` guard.
    """
    if workers <= 1 or len(paths) < MIN_IMAGES_FOR_POOL:
        yield from (render_png(path, size) for path in paths)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(render_png, paths, itertools.repeat(size))


def _sample_files(item: PlannedSample, png: bytes) -> dict[str, bytes]:
    meta = {
        "id": item.id,
        "code": item.image.code,
        "concept": item.concept,
        "captions": list(item.image.captions),
        "source": item.image.source,
        "license": item.image.license,
        "split": item.split,
    }
    return {
        "json": json.dumps(meta, sort_keys=True, ensure_ascii=False).encode("utf-8"),
        "png": png,
        "txt": item.image.captions[0].encode("utf-8"),
    }


def _row(item: PlannedSample, png: bytes, shard: str) -> dict[str, Any]:
    with Image.open(io.BytesIO(png)) as image:  # reads the header only
        width, height = image.size
    caption = item.image.captions[0]
    return {
        "id": item.id,
        "split": item.split,
        "source": item.image.source,
        "license": item.image.license,
        "code": item.image.code,
        "concept": item.concept,
        "caption": caption,
        "captions": list(item.image.captions),
        "shard": shard,
        "key": item.id,
        "image_sha256": hashlib.sha256(png).hexdigest(),
        "width": width,
        "height": height,
        "n_bytes": len(png),
        "caption_chars": len(caption),
    }


def _write_shards(
    planned: list[PlannedSample], root: Path, cfg: DataConfig, workers: int
) -> list[dict[str, Any]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    (root / "shards").mkdir()
    rendered = _render_all([p.image.path for p in planned], cfg.image_size, workers)
    rows: list[dict[str, Any]] = []
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns) as progress:
        task = progress.add_task("rendering images", total=len(planned))
        for split, group in itertools.groupby(planned, key=lambda p: p.split):
            items = list(group)
            for index in range(0, len(items), cfg.samples_per_shard):
                shard = f"shards/{split}-{index // cfg.samples_per_shard:05d}.tar"
                members: dict[str, dict[str, bytes]] = {}
                for item in items[index : index + cfg.samples_per_shard]:
                    png = next(rendered)
                    members[item.id] = _sample_files(item, png)
                    rows.append(_row(item, png, shard))
                    progress.advance(task)
                write_shard(root / shard, members)
    return rows


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
    cfg: DataConfig, sources_dir: Path, out_dir: Path, *, workers: int | None = None
) -> dict[str, Any]:
    """Build the corpus into `out_dir` and return its card.

    Everything is written to a temporary sibling of `out_dir` that replaces it only once
    complete, so a failed build leaves the previous corpus (or nothing) in place.
    `workers` threads rasterise images (default: the machine's cores, at most 8).
    """
    sources_dir, out_dir = Path(sources_dir), Path(out_dir).absolute()
    train, train_source = _load(cfg.train_package, sources_dir, cfg.include_skin_tones)
    heldout, heldout_source = _load(cfg.heldout_package, sources_dir, cfg.include_skin_tones)
    planned = plan_samples(cfg, train, heldout)
    workers = workers or min(os.cpu_count() or 1, MAX_WORKERS)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.building-"))
    try:
        building.chmod(0o755)  # mkdtemp makes it private; the corpus is an ordinary folder
        rows = _write_shards(planned, building, cfg, workers)
        write_manifest(rows, building / MANIFEST)
        sources = {"train": train_source, "heldout": heldout_source}
        card = make_card(rows, cfg.model_dump(mode="json"), sources)
        write_card(card, building / CARD)
        _swap_in(building, out_dir)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    log.info("built %d samples into %s: %s", len(rows), out_dir, card["counts"]["by_split"])
    return card
