"""card.json: the corpus's data card, tallied from the manifest rows. No timestamps, so a
rebuild from the same sources and parameters gives the same file."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from components.artifacts import CARD_FILE
from components.data.corpus.distinct import DistinctCount
from components.data.corpus.location import CorpusLocation
from components.data.errors import DataSourceError

CARD = CARD_FILE
CARD_VERSION = 1


STATS = ("width", "height", "n_bytes", "caption_chars", "all_chars", "per_sample")


class _Stats:
    """min, mean (3 decimals) and max of a stream of integers, exact."""

    def __init__(self) -> None:
        self.n = self.total = 0
        self.low: int | None = None
        self.high: int | None = None

    def add(self, value: int) -> None:
        self.n += 1
        self.total += value
        self.low = value if self.low is None else min(self.low, value)
        self.high = value if self.high is None else max(self.high, value)

    def summary(self) -> dict[str, float | int]:
        if not self.n:
            return {"min": 0, "mean": 0.0, "max": 0}
        return {"min": self.low, "mean": round(self.total / self.n, 3), "max": self.high}


class CardTally:
    """The card's figures, tallied row by row as the manifest is written: nothing held grows
    with the samples (concepts are counted by DistinctCount, on disk past a few thousand)."""

    def __init__(self, scratch: Path | None = None) -> None:
        self._scratch = scratch
        self.by = {field: Counter() for field in ("source", "split", "license")}
        self.concepts: dict[str, DistinctCount] = {}
        self.all_concepts = DistinctCount(scratch)
        self.shards: dict[str, set[str]] = defaultdict(set)
        self.stats = {name: _Stats() for name in STATS}

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            for field, counter in self.by.items():
                counter[row[field]] += 1
            split = row["split"]
            if split not in self.concepts:
                self.concepts[split] = DistinctCount(self._scratch)
            self.concepts[split].add([row["concept"]])
            self.all_concepts.add([row["concept"]])
            self.shards[split].add(row["shard"])
            for name in ("width", "height", "n_bytes", "caption_chars"):
                self.stats[name].add(row[name])
            for caption in row["captions"]:
                self.stats["all_chars"].add(len(caption))
            self.stats["per_sample"].add(len(row["captions"]))

    def card(self, params: dict[str, Any], sources: dict[str, Any]) -> dict[str, Any]:
        """Counts, concepts, image and caption statistics, and how the corpus was made."""
        stats = {name: tally.summary() for name, tally in self.stats.items()}
        return {
            "card_version": CARD_VERSION,
            "format": "webdataset",
            "build": dict(sorted(params.items())),
            "sources": sources,
            "counts": {
                "samples": sum(self.by["split"].values()),
                **{f"by_{field}": dict(sorted(c.items())) for field, c in self.by.items()},
            },
            "concepts": {
                "total": self.all_concepts.count(),
                "by_split": {split: c.count() for split, c in sorted(self.concepts.items())},
            },
            "shards": {split: len(paths) for split, paths in sorted(self.shards.items())},
            "images": {
                "width": stats["width"],
                "height": stats["height"],
                "n_bytes": stats["n_bytes"],
                "total_bytes": self.stats["n_bytes"].total,
            },
            "captions": {
                "primary_chars": stats["caption_chars"],
                "all_chars": stats["all_chars"],
                "per_sample": stats["per_sample"],
            },
        }

    def close(self) -> None:
        for counter in [self.all_concepts, *self.concepts.values()]:
            counter.close()


def stored_side(corpus: Path | CorpusLocation) -> int | None:
    """The side package images are rendered at (the card's data.image_size), else the smallest
    side of any stored image; None: a corpus without a card. A user's photo is stored as given,
    perhaps smaller: training's preprocessing scales it up like any other."""
    if isinstance(corpus, CorpusLocation):
        try:
            text = corpus.read_bytes(CARD).decode("utf-8")
        except DataSourceError:
            return None
    else:
        path = Path(corpus) / CARD
        if not path.is_file():
            return None
        text = path.read_text(encoding="utf-8")
    card = json.loads(text)
    if isinstance(card.get("build", {}).get("image_size"), int):
        return card["build"]["image_size"]
    images = card.get("images", {})
    return min(images.get("width", {}).get("min", 0), images.get("height", {}).get("min", 0))


def write_card(card: dict[str, Any], path: Path) -> None:
    text = json.dumps(card, sort_keys=True, indent=2, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
