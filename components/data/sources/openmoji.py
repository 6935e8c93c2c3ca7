"""OpenMoji: the held-out art style (SVG), never trained on, for zero-shot evaluation.

Reads `package/data/openmoji.json` from the npm package `openmoji` and `package/color/svg/`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from components.data.corpus.records import SourceImage, normalize_code, unique_in_order
from components.data.errors import DataSourceError

SOURCE = "openmoji"
LICENSE = "CC-BY-SA-4.0"
IMAGE_DIR = Path("color/svg")


def _tags(text: str) -> list[str]:
    return [tag.strip() for tag in text.split(",")]


def load_openmoji(package_dir: Path, include_skin_tones: bool) -> list[SourceImage]:
    """One SourceImage per emoji (and per skin-tone variant when asked), sorted by code.

    Captions are OpenMoji's CLDR annotation then its CLDR tags; a skin-tone variant has no
    tags of its own, so it borrows its base emoji's.
    """
    path = package_dir / "data" / "openmoji.json"
    try:
        entries: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataSourceError(f"cannot read {path}: {err}") from err
    base_tags = {
        normalize_code(e["hexcode"]): e.get("tags") or "" for e in entries if e["skintone"] == ""
    }
    images: list[SourceImage] = []
    for entry in sorted(entries, key=lambda e: normalize_code(e["hexcode"])):
        is_variant = entry["skintone"] != ""
        if is_variant and not include_skin_tones:
            continue
        code = normalize_code(entry["hexcode"])
        base_code = normalize_code(entry["skintone_base_hexcode"]) if is_variant else code
        svg = package_dir / IMAGE_DIR / f"{entry['hexcode']}.svg"
        if not svg.is_file():
            raise DataSourceError(f"{package_dir.parent.name} lacks image {svg.name}")
        annotation = entry["annotation"]
        tags = _tags(entry.get("tags") or base_tags.get(base_code, ""))
        images.append(
            SourceImage(
                SOURCE,
                code,
                base_code,
                annotation.lower(),
                unique_in_order([annotation, *tags]),
                entry.get("group") or "other",
                LICENSE,
                svg,
            )
        )
    return images
