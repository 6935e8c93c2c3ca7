"""Noto emoji (emoji-datasource-google): the training style, with the concept names.

Reads `package/emoji.json` from the npm package `emoji-datasource-google` and its 64 px PNGs.
The other emoji-datasource-* packages share that layout, so `load_emoji_datasource` reads any
of them given its `EmojiStyle` (twemoji.py is one).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.data.corpus.records import SKIN_TONES, SourceImage, normalize_code, unique_in_order
from components.data.errors import DataSourceError


@dataclass(frozen=True)
class EmojiStyle:
    """What differs between emoji-datasource-* packages: where the images are, and whose."""

    source: str  # the art style's name: manifest `source` and sample id prefix
    license: str  # SPDX id of the images (the packages' code and JSON are MIT)
    image_dir: Path  # inside `package/`
    has_image: str  # emoji.json flag saying this package draws the emoji


NOTO = EmojiStyle("noto", "Apache-2.0", Path("img/google/64"), "has_img_google")


def _read_entries(package_dir: Path) -> list[dict[str, Any]]:
    path = package_dir / "emoji.json"
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataSourceError(f"cannot read {path}: {err}") from err
    return sorted(entries, key=lambda entry: normalize_code(entry["unified"]))


def _phrases(entry: dict[str, Any]) -> list[str]:
    return [short.replace("_", " ") for short in entry.get("short_names", [])]


def concept_names(entries: list[dict[str, Any]]) -> dict[str, str]:
    """Lowercased Unicode name per code, made unique: labels must tell classes apart.

    A few names repeat (1F935 "MAN IN TUXEDO" is the gender-neutral person); a repeated name
    gives way to the entry's own first short name when that differs, else gets its code.
    """
    names = {normalize_code(e["unified"]): e["name"].lower() for e in entries}
    counts = Counter(names.values())
    taken = set(names.values())
    for entry in entries:
        code = normalize_code(entry["unified"])
        if counts[names[code]] == 1:
            continue
        alternative = next(iter(_phrases(entry)), "")
        if alternative and alternative not in taken:
            counts[names[code]] -= 1
            names[code] = alternative
            taken.add(alternative)
    for code, name in names.items():
        if counts[name] > 1:  # still ambiguous after short names: disambiguate with the code
            names[code] = f"{name} ({code.lower()})"
    return names


def _image(package_dir: Path, image_dir: Path, filename: str) -> Path:
    path = package_dir / image_dir / filename
    if not path.is_file():
        raise DataSourceError(f"{package_dir.parent.name} lacks image {image_dir / filename}")
    return path


def load_noto(package_dir: Path, include_skin_tones: bool) -> list[SourceImage]:
    """One SourceImage per emoji (and per skin-tone variant when asked), sorted by code."""
    return load_emoji_datasource(package_dir, include_skin_tones, NOTO)


def load_emoji_datasource(
    package_dir: Path, include_skin_tones: bool, style: EmojiStyle
) -> list[SourceImage]:
    """One SourceImage per emoji `style` draws (and per skin-tone variant), sorted by code."""
    source, license_ = style.source, style.license
    entries = [e for e in _read_entries(package_dir) if e.get(style.has_image, True)]
    names = concept_names(entries)
    images: list[SourceImage] = []
    for entry in entries:
        code = normalize_code(entry["unified"])
        name = names[code]
        category = entry.get("category") or "Other"
        subcategory = (entry.get("subcategory") or "").replace("-", " ")
        captions = unique_in_order(
            [
                name,
                entry["name"].lower(),
                *_phrases(entry),
                f"{name}, {category.lower()} emoji",
                f"{name}, {subcategory}" if subcategory else "",
            ]
        )
        path = _image(package_dir, style.image_dir, entry["image"])
        images.append(SourceImage(source, code, code, name, captions, category, license_, path))
        if not include_skin_tones:
            continue
        for tones, variant in sorted((entry.get("skin_variations") or {}).items()):
            tone_words = ", ".join(SKIN_TONES.get(t, t.lower()) for t in tones.split("-"))
            variant_name = f"{name}: {tone_words}"
            images.append(
                SourceImage(
                    source,
                    normalize_code(variant["unified"]),
                    code,
                    variant_name,
                    unique_in_order([variant_name, *captions]),
                    category,
                    license_,
                    _image(package_dir, style.image_dir, variant["image"]),
                )
            )
    return images
