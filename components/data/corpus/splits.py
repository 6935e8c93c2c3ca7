"""Which concepts are used, and which split each goes to. Splits are by concept, not image.

`train` and `val` hold the training style (val concepts are never trained on: retrieval);
`heldout_style` holds every selected concept in the other style (zero-shot on an unseen style).
User samples have no shared concepts, so each goes to train or val by a hash of its image.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict

TRAIN, VAL, HELDOUT = "train", "val", "heldout_style"
# zero-shot label sets from Debian packages (data.debian_sources): one split each, never trained on
ZEROSHOT_FASHION = "zeroshot_fashion_mnist"
ZEROSHOT_FLAGS = "zeroshot_flags"
ZEROSHOT_CARDS = "zeroshot_playing_cards"
ZEROSHOT_SPLITS = (ZEROSHOT_FASHION, ZEROSHOT_FLAGS, ZEROSHOT_CARDS)
SPLITS = (TRAIN, VAL, HELDOUT, *ZEROSHOT_SPLITS)


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


def choose_val(categories: dict[str, str], val_fraction: float, seed: int) -> set[str]:
    """A seeded, category-spread `val_fraction` of the given codes (at least one, and never
    all of them, when the fraction is positive and there are two or more)."""
    n = len(categories)
    if val_fraction <= 0 or n < 2:
        return set()
    n_val = min(max(1, round(val_fraction * n)), n - 1)
    return set(_spread(categories, random.Random(f"val:{seed}"))[:n_val])


def content_split(image_sha256: str, val_fraction: float, seed: int) -> str:
    """TRAIN or VAL for a user sample, from a seeded hash of its image's sha256: the same
    picture always lands in the same split, whatever else the sources hold or their order."""
    digest = hashlib.sha256(f"user-val:{seed}:{image_sha256}".encode()).digest()
    return VAL if int.from_bytes(digest[:8], "big") / 2**64 < val_fraction else TRAIN
