"""Twemoji (emoji-datasource-twitter): a second training style of the same concepts.

Same package layout as Noto's emoji-datasource-google, so the Noto reader reads it; only the
image folder, the style's name and the images' license differ.
"""

from __future__ import annotations

from pathlib import Path

from components.data.corpus.records import SourceImage
from components.data.sources.noto_emoji import EmojiStyle, load_emoji_datasource

TWEMOJI = EmojiStyle("twemoji", "CC-BY-4.0", Path("img/twitter/64"), "has_img_twitter")


def load_twemoji(package_dir: Path, include_skin_tones: bool) -> list[SourceImage]:
    """One SourceImage per emoji Twemoji draws (and per skin-tone variant), sorted by code."""
    return load_emoji_datasource(package_dir, include_skin_tones, TWEMOJI)
