"""Tux Paint stamps (Debian tuxpaint-stamps-default): captioned clip art and photo cut-outs.

/usr/share/tuxpaint/stamps/<category>/**/NAME.{svg,png} with NAME.txt, whose first line is the
English caption ("An emperor tamarin."); the other lines are translations.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from components.data.corpus.records import SourceImage, unique_in_order
from components.data.sources.debian_select import first_usable
from components.settings import DataConfig

SOURCE = "tuxpaint"
LICENSE = "GPL-2.0"
STAMPS = Path("tuxpaint/stamps")  # under /usr/share
CODE_HEX = 12


def _stamps(base: Path) -> list[Path]:
    """Every stamp (path without suffix) that has an image and a caption file, sorted.
    `*_mirror` images have no caption: Tux Paint's pre-flipped variants, left out."""
    stems = {p.with_suffix("") for p in base.rglob("*") if p.suffix in (".svg", ".png")}
    return sorted(stem for stem in stems if stem.with_suffix(".txt").is_file())


def _image(base: Path, stem: Path) -> SourceImage | None:
    lines = stem.with_suffix(".txt").read_text(encoding="utf-8", errors="replace").splitlines()
    caption = lines[0].strip().lstrip("\ufeff") if lines else ""
    if not caption:
        return None
    svg = stem.with_suffix(".svg")
    path = svg if svg.is_file() else stem.with_suffix(".png")  # Tux Paint prefers the SVG
    relative = stem.relative_to(base).as_posix()
    category = relative.split("/", 1)[0]
    code = hashlib.sha256(relative.encode()).hexdigest()[:CODE_HEX]  # stable, tar-key safe
    return SourceImage(
        source=SOURCE,
        code=code,
        base_code=code,
        name=caption,
        captions=unique_in_order([caption, category]),
        category=category,
        license=LICENSE,
        path=path,
    )


def load_tuxpaint(root: Path, cfg: DataConfig) -> list[SourceImage]:
    """Up to debian_max_images_per_source captioned stamps, a seeded choice."""
    base = root / STAMPS
    return first_usable(
        _stamps(base),
        lambda stem: _image(base, stem),
        cfg.seed,
        SOURCE,
        cfg.debian_max_images_per_source,
    )
