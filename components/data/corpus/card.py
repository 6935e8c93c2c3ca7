"""card.json: the corpus's data card, computed from the manifest rows. No timestamps, so a
rebuild from the same sources and parameters gives the same file."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from components.data.corpus.location import CorpusLocation
from components.data.errors import DataSourceError

CARD = "card.json"
CARD_VERSION = 1


def _stats(values: Iterable[int]) -> dict[str, float | int]:
    values = list(values)
    if not values:
        return {"min": 0, "mean": 0.0, "max": 0}
    return {"min": min(values), "mean": round(sum(values) / len(values), 3), "max": max(values)}


def _counts(rows: list[dict[str, Any]], field: str) -> dict[str, int]:
    return dict(sorted(Counter(row[field] for row in rows).items()))


def make_card(
    rows: list[dict[str, Any]], params: dict[str, Any], sources: dict[str, Any]
) -> dict[str, Any]:
    """Counts, concepts, image and caption statistics, and how the corpus was made."""
    concepts: dict[str, set[str]] = defaultdict(set)
    shards: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        concepts[row["split"]].add(row["concept"])
        shards[row["split"]].add(row["shard"])
    return {
        "card_version": CARD_VERSION,
        "format": "webdataset",
        "build": dict(sorted(params.items())),
        "sources": sources,
        "counts": {
            "samples": len(rows),
            "by_source": _counts(rows, "source"),
            "by_split": _counts(rows, "split"),
            "by_license": _counts(rows, "license"),
        },
        "concepts": {
            "total": len(set().union(*concepts.values())) if concepts else 0,
            "by_split": {split: len(names) for split, names in sorted(concepts.items())},
        },
        "shards": {split: len(paths) for split, paths in sorted(shards.items())},
        "images": {
            "width": _stats(row["width"] for row in rows),
            "height": _stats(row["height"] for row in rows),
            "n_bytes": _stats(row["n_bytes"] for row in rows),
            "total_bytes": sum(row["n_bytes"] for row in rows),
        },
        "captions": {
            "primary_chars": _stats(row["caption_chars"] for row in rows),
            "all_chars": _stats(len(c) for row in rows for c in row["captions"]),
            "per_sample": _stats(len(row["captions"]) for row in rows),
        },
    }


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
