"""Playing cards (Debian openclipart-svg): four decks of 52 cards, a zero-shot label set.

/usr/share/openclipart/svg/recreation/games/cards/<deck>/<deck>_<suit>_<rank>.svg; the jokers
(`_jk_`) and card backs are left out. Class names read "ace of spades", "ten of hearts".
"""

from __future__ import annotations

from pathlib import Path

from components.data.corpus.records import SourceImage
from components.data.sources.debian_select import cap_per_class
from components.data.sources.openclipart import CARD_DECKS, CARDS_DIR, SVG_DIR
from components.settings import DataConfig

SOURCE = "playing-cards"
LICENSE = "CC0-1.0"  # openclipart's public-domain dedication
SUITS = {"c": "clubs", "d": "diamonds", "h": "hearts", "s": "spades"}
RANKS = {
    "a": "ace", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six", "7": "seven",
    "8": "eight", "9": "nine", "10": "ten", "j": "jack", "q": "queen", "k": "king",
}  # fmt: skip
CLASSES = tuple(f"{rank} of {suit}" for suit in SUITS.values() for rank in RANKS.values())


def load_playing_cards(root: Path, cfg: DataConfig) -> list[SourceImage]:
    """Every card of every deck found, at most label_set_max_per_class decks per card."""
    base = root / SVG_DIR / CARDS_DIR
    cards = [
        SourceImage(
            source=SOURCE,
            code=f"{deck}-{suit}-{rank}",
            base_code=f"{deck}-{suit}-{rank}",
            name=f"{rank_name} of {suit_name}",
            captions=(f"{rank_name} of {suit_name}",),
            category=deck,
            license=LICENSE,
            path=base / deck / f"{deck}_{suit}_{rank}.svg",
        )
        for deck in CARD_DECKS
        for suit, suit_name in SUITS.items()
        for rank, rank_name in RANKS.items()
        if (base / deck / f"{deck}_{suit}_{rank}.svg").is_file()
    ]
    return cap_per_class(cards, lambda c: c.name, cfg.label_set_max_per_class, cfg.seed, SOURCE)
