"""Which concepts are used, and which split each goes to. Splits are by concept, not image.

`train` and `val` hold the training style (val concepts are never trained on: retrieval); a
concept's split is a seeded hash of its code alone, so adding data never moves one;
`heldout_style` holds every selected concept in the other style (zero-shot on an unseen style);
each extra held-out style has a split of its own, `heldout_<style>` (data.extra_heldout_packages).
User samples have no shared concepts, so each goes to train or val by a hash of its image.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Iterable

TRAIN, VAL, HELDOUT = "train", "val", "heldout_style"
# zero-shot label sets from Debian packages (data.debian_sources): one split each, never trained on
ZEROSHOT_FASHION = "zeroshot_fashion_mnist"
ZEROSHOT_FLAGS = "zeroshot_flags"
ZEROSHOT_CARDS = "zeroshot_playing_cards"
ZEROSHOT_SPLITS = (ZEROSHOT_FASHION, ZEROSHOT_FLAGS, ZEROSHOT_CARDS)
# the emoji packages a reader exists for -> their style (the samples' source); any style but
# the training one may be held out
PACKAGE_STYLES = {
    "emoji-datasource-google": "noto",
    "emoji-datasource-twitter": "twemoji",
    "openmoji": "openmoji",
}
STYLES = tuple(PACKAGE_STYLES.values())


def heldout_split(style: str) -> str:
    """The split of an extra held-out style: twemoji -> heldout_twemoji."""
    return f"heldout_{style}"


HELDOUT_SPLITS = (HELDOUT, *(heldout_split(style) for style in STYLES))
SPLITS = (TRAIN, VAL, *HELDOUT_SPLITS, *ZEROSHOT_SPLITS)


def _spread(categories: dict[str, str], rng: random.Random) -> list[str]:
    """All codes in a seeded order that walks the categories in proportion to their size.

    Each category is shuffled; its i-th code gets the key i/len(category), so any prefix of
    the result holds every category once before any twice, then roughly proportional shares.
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for code, category in sorted(categories.items()):
        groups[category].append(code)
    keyed: list[tuple[float, str, str]] = []
    for category in sorted(groups):
        codes = groups[category]
        rng.shuffle(codes)
        keyed += [(i / len(codes), category, code) for i, code in enumerate(codes)]
    return [code for _, _, code in sorted(keyed)]


def select_concepts(categories: dict[str, str], max_concepts: int, seed: int) -> list[str]:
    """`max_concepts` codes (0 = all) spread over categories, returned sorted."""
    if max_concepts <= 0 or max_concepts >= len(categories):
        return sorted(categories)
    # a string seed is hashed with SHA-512 by `random`, so it does not depend on PYTHONHASHSEED
    chosen = _spread(categories, random.Random(f"select:{seed}"))[:max_concepts]
    return sorted(chosen)


def _unit(text: str) -> float:
    """A seeded hash of `text` as a number in [0, 1)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def choose_val(codes: Iterable[str], val_fraction: float, seed: int) -> set[str]:
    """The val concepts: each code by a seeded hash of the code alone, so a concept keeps its
    split whatever else the packages hold (a package version that adds concepts, another
    `max_concepts`); about `val_fraction` of them. Only when the hash leaves no val concept
    or no training one (a handful of codes) is the one nearest the threshold moved."""
    draws = {code: _unit(f"concept-val:{seed}:{code}") for code in codes}
    if val_fraction <= 0 or len(draws) < 2:
        return set()
    val = {code for code, u in draws.items() if u < val_fraction}
    ranked = sorted(draws, key=lambda code: (draws[code], code))
    if not val:
        val = {ranked[0]}
    elif len(val) == len(draws):
        val.discard(ranked[-1])
    return val


def content_split(image_sha256: str, val_fraction: float, seed: int) -> str:
    """TRAIN or VAL for a user sample, from a seeded hash of its image's sha256: the same
    picture always lands in the same split, whatever else the sources hold or their order."""
    return VAL if _unit(f"user-val:{seed}:{image_sha256}") < val_fraction else TRAIN
