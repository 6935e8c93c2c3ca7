"""Seeded, deterministic subsets for the Debian sources: a cap per source, a cap per class."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")


def seeded_order(items: Sequence[T], seed: int, source: str) -> list[T]:
    """`items` in a seeded shuffle. The caller passes them sorted, so the order depends only
    on the seed and the package's files, never on the file system's listing order."""
    shuffled = list(items)
    # a string seed is hashed with SHA-512 by `random`: independent of PYTHONHASHSEED
    random.Random(f"debian:{seed}:{source}").shuffle(shuffled)
    return shuffled


def take(found: Iterable[T], cap: int) -> list[T]:
    """The first `cap` items (0 = all) of an iterator that may skip unusable files lazily."""
    taken: list[T] = []
    iterator: Iterator[T] = iter(found)
    while not cap or len(taken) < cap:  # check first: pulling one more parses one more file
        item = next(iterator, None)
        if item is None:
            break
        taken.append(item)
    return taken


def cap_per_class(
    items: Sequence[T], label: Callable[[T], str], cap: int, seed: int, source: str
) -> list[T]:
    """At most `cap` items per class (0 = all), a seeded choice within each, in input order."""
    if cap <= 0:
        return list(items)
    by_class: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        by_class[label(item)].append(index)
    kept: set[int] = set()
    for name in sorted(by_class):
        indices = by_class[name]
        kept |= set(seeded_order(indices, seed, f"{source}:{name}")[:cap])
    return [item for index, item in enumerate(items) if index in kept]


def first_usable(
    candidates: Sequence[T], parse: Callable[[T], U | None], seed: int, source: str, cap: int
) -> list[U]:
    """Parse `candidates` in a seeded order, skipping the unusable (None), until `cap` (0 = all)
    are found: only as many files are read as it takes."""
    parsed = (parse(c) for c in seeded_order(candidates, seed, source))
    return take((item for item in parsed if item is not None), cap)
