"""Opt-in sources from Debian packages (data.debian_sources; see shared/DATA.md).

Captioned clip art for training (tuxpaint, openclipart: each image its own concept, train or
val by a hash of the image, as user data) and zero-shot label sets, each in its own split
(fashion-mnist, flags, playing-cards: never trained on). The packages are read where apt puts
them; scripts/install_debian_sources.sh installs them.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, get_args

from components.data.corpus.plan import PlannedSample, content_split_samples
from components.data.corpus.records import SourceImage
from components.data.corpus.splits import ZEROSHOT_CARDS, ZEROSHOT_FASHION, ZEROSHOT_FLAGS
from components.data.errors import DataSourceError
from components.data.sources.debian_render import render_debian
from components.data.sources.fashion_mnist import IMAGES, LABELS, load_fashion_mnist
from components.data.sources.flags import FLAG_DIR, ISO_3166, load_flags
from components.data.sources.openclipart import CARDS_DIR, SVG_DIR, load_openclipart
from components.data.sources.playing_cards import load_playing_cards
from components.data.sources.tuxpaint import STAMPS, load_tuxpaint
from components.settings import DataConfig, DebianSourceName

USR_SHARE = Path("/usr/share")  # where apt installs them; tests point it elsewhere
INSTALL_SCRIPT = "scripts/install_debian_sources.sh"

Loader = Callable[[Path, DataConfig], list[SourceImage]]


@dataclass(frozen=True)
class DebianSource:
    name: str
    needs: tuple[tuple[Path, str], ...]  # (path under /usr/share, the apt package shipping it)
    load: Loader
    split: str | None  # a zero-shot split; None = captioned training data (train/val)


# label sets first: when an image appears twice, the label set keeps it and training drops it
SOURCES: dict[str, DebianSource] = {
    s.name: s
    for s in (
        DebianSource(
            "fashion-mnist",
            ((IMAGES, "dataset-fashion-mnist"), (LABELS, "dataset-fashion-mnist")),
            load_fashion_mnist,
            ZEROSHOT_FASHION,
        ),
        DebianSource(
            "flags",
            ((FLAG_DIR, "iso-flags-png-320x240"), (ISO_3166, "iso-codes")),
            load_flags,
            ZEROSHOT_FLAGS,
        ),
        DebianSource(
            "playing-cards",
            ((SVG_DIR / CARDS_DIR, "openclipart-svg"),),
            load_playing_cards,
            ZEROSHOT_CARDS,
        ),
        DebianSource("tuxpaint", ((STAMPS, "tuxpaint-stamps-default"),), load_tuxpaint, None),
        DebianSource("openclipart", ((SVG_DIR, "openclipart-svg"),), load_openclipart, None),
    )
}
assert set(SOURCES) == set(get_args(DebianSourceName)), "settings and sources disagree"


def check_installed(names: list[str], root: Path | None = None) -> None:
    """Fail before any work when a named source's files are absent, naming the apt package."""
    root = USR_SHARE if root is None else root
    for name in names:
        for relative, package in SOURCES[name].needs:
            if not (root / relative).exists():
                raise DataSourceError(
                    f"data.debian_sources lists {name!r}, but {root / relative} is missing: "
                    f"install the Debian package {package} (apt-get install -y "
                    f"--no-install-recommends {package}, or run {INSTALL_SCRIPT} {name})"
                )


def _versions(packages: list[str]) -> dict[str, str | None]:
    """Installed versions, for the card's provenance (None where dpkg cannot tell)."""
    versions: dict[str, str | None] = {}
    for package in sorted(set(packages)):
        try:
            done = subprocess.run(
                ["dpkg-query", "-W", "-f=${Version}", package],
                capture_output=True, text=True, check=False, timeout=30,
            )  # fmt: skip
            versions[package] = done.stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            versions[package] = None
    return versions


def _render(images: list[SourceImage], size: int, workers: int) -> list[bytes | None]:
    """Rendered up front: duplicates are only visible in the rendered pixels."""

    def one(image: SourceImage) -> bytes | None:
        return render_debian(image.path, image.data, size)

    if workers <= 1:
        return [one(image) for image in images]
    with ThreadPoolExecutor(max_workers=workers) as pool:  # resvg and Pillow release the GIL
        return list(pool.map(one, images))


def load_debian_sources(
    cfg: DataConfig, workers: int = 1
) -> tuple[list[PlannedSample], list[dict[str, Any]]]:
    """The planned samples of every named source, and a provenance entry per source.

    Images are rendered here (their bytes travel as SourceImage.data) so that an image that
    renders the same as an earlier one is dropped: the validation gate would reject it, and a
    label-set image must never also be a training image.
    """
    names = [name for name in SOURCES if name in cfg.debian_sources]
    check_installed(names)
    seen: set[str] = set()
    planned: list[PlannedSample] = []
    provenance: list[dict[str, Any]] = []
    for name in names:
        source = SOURCES[name]
        loaded = source.load(USR_SHARE, cfg)
        kept: list[SourceImage] = []
        unrenderable = duplicates = 0
        for image, png in zip(loaded, _render(loaded, cfg.image_size, workers), strict=True):
            digest = hashlib.sha256(png).hexdigest() if png is not None else ""
            unrenderable += png is None
            duplicates += digest in seen
            if png is not None and digest not in seen:
                seen.add(digest)
                kept.append(replace(image, data=png))
        if source.split is None:
            planned += content_split_samples(cfg, kept)
        else:
            planned += [PlannedSample(image, source.split, image.name) for image in kept]
        provenance.append(
            {
                "name": name,
                "packages": _versions([package for _, package in source.needs]),
                "split": source.split or "train/val",
                "images_loaded": len(loaded),
                "unrenderable_or_blank": unrenderable,
                "duplicates_dropped": duplicates,
                "samples": len(kept),
            }
        )
    return planned, provenance
