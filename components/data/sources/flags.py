"""Country flags (Debian iso-flags-png-320x240), named by iso-codes: a zero-shot label set.

/usr/share/iso-flags-png-320x240/<alpha2>.png, named by /usr/share/iso-codes/json/iso_3166-1.json
(`common_name` when there is one: "South Korea", not "Korea, Republic of"). Files that are not
ISO 3166-1 codes (_basque, eu, zz ...) are left out.
"""

from __future__ import annotations

import json
from pathlib import Path

from components.data.corpus.records import SourceImage
from components.data.errors import DataSourceError
from components.settings import DataConfig

SOURCE = "flags"
LICENSE = "LicenseRef-public-domain"  # debian/copyright: dedicated to the public domain
FLAG_DIR = Path("iso-flags-png-320x240")  # under /usr/share
ISO_3166 = Path("iso-codes/json/iso_3166-1.json")


def country_names(path: Path) -> dict[str, tuple[str, bool]]:
    """alpha-2 code (lowercase) -> (name, has an official name)."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["3166-1"]
    except (OSError, ValueError, KeyError) as err:
        raise DataSourceError(f"cannot read {path}: {err}") from err
    return {
        e["alpha_2"].lower(): (e.get("common_name") or e["name"], "official_name" in e)
        for e in entries
    }


def load_flags(root: Path, cfg: DataConfig) -> list[SourceImage]:
    """One flag per named country. Ordered sovereign-looking first (an entry with an official
    name), so that when territories share a flag (US and UM, FR and GF...) the build's
    duplicate-image pass keeps the country's own."""
    names = country_names(root / ISO_3166)
    codes = sorted(
        (p.stem for p in (root / FLAG_DIR).glob("*.png") if p.stem in names),
        key=lambda code: (not names[code][1], code),
    )
    # one image per class: label_set_max_per_class never drops a flag
    return [
        SourceImage(
            source=SOURCE,
            code=code,
            base_code=code,
            name=names[code][0],
            captions=(names[code][0],),
            category="flag",
            license=LICENSE,
            path=root / FLAG_DIR / f"{code}.png",
        )
        for code in codes
    ]
