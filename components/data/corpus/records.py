"""What a source module hands to the build: one image with its concept code and captions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Emoji presentation selector: present in some spellings of a code point sequence and not in
# others ("1F336-FE0F" in emoji-datasource, "1F336" in OpenMoji), so it is not part of a key.
VARIATION_SELECTOR = "FE0F"

# CLDR names of the Fitzpatrick modifiers, as OpenMoji's annotations spell them
SKIN_TONES = {
    "1F3FB": "light skin tone",
    "1F3FC": "medium-light skin tone",
    "1F3FD": "medium skin tone",
    "1F3FE": "medium-dark skin tone",
    "1F3FF": "dark skin tone",
}


def normalize_code(code: str) -> str:
    """'1f336-fe0f' -> '1F336': the key that matches one emoji across packages."""
    parts = [part for part in code.strip().upper().split("-") if part]
    return "-".join(part for part in parts if part != VARIATION_SELECTOR)


@dataclass(frozen=True)
class ImageAt:
    """Where an image's bytes lie in a user's source shard (a build on Ray passes this, never
    the bytes): the data.user_sources entry, the shard (a real local path or an s3:// URL), the
    image member's first byte and length."""

    origin: str
    shard: str
    offset: int
    size: int


@dataclass(frozen=True)
class SourceImage:
    """One image of one emoji in one art style, before rasterising."""

    source: str  # "noto", "twemoji", "openmoji" or "user": also the sample id prefix
    code: str  # normalized code of this image (a skin-tone variant has its own)
    base_code: str  # normalized code of the concept it shows: the split unit
    name: str  # the package's own name for this image, lowercased
    captions: tuple[str, ...]  # first one is the primary caption
    category: str  # the package's top-level group, used to spread a capped selection
    license: str  # SPDX id of the image
    path: Path  # PNG or SVG file inside the unpacked package; for user data, its origin
    # the image's bytes when they were read already (user data: S3 objects, tar members);
    # None = read `path`. b"" = the referenced image is missing, kept for the gate to report
    data: bytes | None = None
    # a build on Ray: the bytes are left where they are (`data` is None) and read by the task
    # that writes the sample's shard; `sha256` is theirs, computed by the source checks
    at: ImageAt | None = None
    sha256: str | None = None

    @property
    def sample_id(self) -> str:
        return f"{self.source}-{self.code.lower()}"


def unique_in_order(items: list[str]) -> tuple[str, ...]:
    """Drop empty and repeated strings, keeping the first occurrence's position."""
    seen: dict[str, None] = {}
    for item in items:
        item = " ".join(item.split())
        if item and item not in seen:
            seen[item] = None
    return tuple(seen)
