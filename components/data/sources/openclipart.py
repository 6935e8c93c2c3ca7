"""Openclipart (Debian openclipart-svg): public-domain clip art captioned by its RDF metadata.

Each SVG's <metadata> holds a Dublin Core record: dc:title (the caption), dc:subject keywords
and sometimes dc:description (more captions). Files without a title are skipped.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path

from components.data.corpus.records import SourceImage, unique_in_order
from components.data.sources.debian_select import first_usable
from components.settings import DataConfig

SOURCE = "openclipart"
LICENSE = "CC0-1.0"  # the package's "Creative Commons Public Domain Dedication"
SVG_DIR = Path("openclipart/svg")  # under /usr/share
# the playing-card decks are the zero-shot set `playing-cards`: never trained on
CARD_DECKS = ("bordered", "ornamental", "simple", "white")
CARDS_DIR = Path("recreation/games/cards")
DC = "{http://purl.org/dc/elements/1.1/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
MAX_CAPTION_CHARS = 300  # validate.max_caption_chars: a longer text is not kept as a caption
CODE_HEX = 12


def _text(element: ET.Element | None) -> str:
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def read_metadata(path: Path) -> tuple[str, list[str]] | None:
    """(title, more captions) from the SVG's Dublin Core record; None without a title.

    Stops parsing at the end of the record (the drawing after it can be megabytes). Keywords
    that only repeat the author's name (common in this package) are dropped.
    """
    try:
        for _, element in ET.iterparse(path, events=("end",)):
            if not element.tag.endswith("}Work"):  # cc:Work, whichever cc namespace
                continue
            title = _text(element.find(f"{DC}title"))
            if not title or len(title) > MAX_CAPTION_CHARS:
                return None
            author = _text(element.find(f"{DC}creator/*/{DC}title")).casefold()
            keywords = [_text(li) for li in element.iterfind(f"{DC}subject//{RDF}li")]
            more = [_text(element.find(f"{DC}description")), *keywords]
            kept = [c for c in more if c.casefold() != author and len(c) <= MAX_CAPTION_CHARS]
            return title, kept
    except (ET.ParseError, OSError):
        return None
    return None


def _candidates(base: Path) -> list[Path]:
    decks = {base / CARDS_DIR / deck for deck in CARD_DECKS}
    return sorted(p for p in base.rglob("*.svg") if p.parent not in decks)


def _image(base: Path, path: Path) -> SourceImage | None:
    metadata = read_metadata(path)
    if metadata is None:
        return None
    title, more = metadata
    relative = path.relative_to(base).as_posix()
    code = hashlib.sha256(relative.encode()).hexdigest()[:CODE_HEX]  # stable, tar-key safe
    return SourceImage(
        source=SOURCE,
        code=code,
        base_code=code,
        name=title,
        captions=unique_in_order([title, *more]),
        category=relative.split("/", 1)[0],
        license=LICENSE,
        path=path,
    )


def load_openclipart(root: Path, cfg: DataConfig) -> list[SourceImage]:
    """Up to debian_max_images_per_source titled SVGs, a seeded choice (only the chosen ones
    are parsed: reading all 8,000 records takes a while)."""
    base = root / SVG_DIR
    return first_usable(
        _candidates(base),
        lambda path: _image(base, path),
        cfg.seed,
        SOURCE,
        cfg.debian_max_images_per_source,
    )
