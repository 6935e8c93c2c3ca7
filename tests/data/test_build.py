from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from components.data import build
from components.data.build import build_corpus
from components.data.corpus.manifest import read_manifest
from components.data.corpus.webdataset import iter_shard


def _all_samples(data_dir: Path) -> list[tuple[str, dict[str, bytes]]]:
    return [s for shard in sorted((data_dir / "shards").glob("*.tar")) for s in iter_shard(shard)]


def test_rebuild_is_byte_identical(corpus, sources_dir, small_cfg, digest, tmp_path) -> None:
    data_dir, _ = corpus
    expected = digest(data_dir)
    assert {"card.json", "manifest.parquet"} <= set(expected)
    again = tmp_path / "data"
    build_corpus(small_cfg, sources_dir, again, workers=1)  # serial: same bytes as threaded
    assert digest(again) == expected
    build_corpus(small_cfg, sources_dir, again)  # over an existing corpus: swapped in
    assert digest(again) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"], "no temp dirs left"


def test_failed_build_keeps_the_previous_corpus(
    corpus, sources_dir, small_cfg, digest, tmp_path, monkeypatch
) -> None:
    previous = tmp_path / "data"
    shutil.copytree(corpus[0], previous)
    before = digest(previous)

    def broken(*_args, **_kwargs) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(build, "write_manifest", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        build_corpus(small_cfg, sources_dir, previous)
    assert digest(previous) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_card_counts_match_the_shards(corpus) -> None:
    data_dir, card = corpus
    metas = [json.loads(parts["json"]) for _, parts in _all_samples(data_dir)]
    assert card == json.loads((data_dir / "card.json").read_text())
    assert card["counts"]["samples"] == len(metas)
    for field in ("source", "split", "license"):
        assert card["counts"][f"by_{field}"] == dict(Counter(m[field] for m in metas))
    concepts = defaultdict(set)
    for meta in metas:
        concepts[meta["split"]].add(meta["concept"])
    assert card["concepts"]["by_split"] == {split: len(c) for split, c in concepts.items()}
    assert card["build"]["max_concepts"] == 40 and card["concepts"]["total"] == 40


def test_manifest_indexes_the_shards(corpus) -> None:
    data_dir, card = corpus
    rows = read_manifest(data_dir).to_pylist()
    assert [(r["split"], r["id"]) for r in rows] == sorted((r["split"], r["id"]) for r in rows)
    samples = dict(_all_samples(data_dir))
    assert set(samples) == {row["key"] for row in rows}
    import hashlib

    for row in rows:
        parts = samples[row["key"]]
        assert hashlib.sha256(parts["png"]).hexdigest() == row["image_sha256"]
        assert parts["txt"].decode() == row["caption"] == row["captions"][0]
        assert (data_dir / row["shard"]).is_file() and row["width"] == row["height"] == 32
    per_shard = Counter(row["shard"] for row in rows)
    assert max(per_shard.values()) <= 16 and len(per_shard) == sum(card["shards"].values())


def test_splits_are_by_concept(corpus) -> None:
    rows = read_manifest(corpus[0]).to_pylist()
    by_split = defaultdict(set)
    for row in rows:
        by_split[row["split"]].add((row["code"], row["concept"]))
    assert by_split["train"] and by_split["val"] and by_split["heldout_style"]
    assert not by_split["train"] & by_split["val"]
    assert by_split["heldout_style"] == by_split["train"] | by_split["val"]
    assert by_split["heldout_twemoji"] == by_split["heldout_style"]  # both held-out styles
    sources = {row["split"]: row["source"] for row in rows}
    assert sources == {
        "train": "noto", "val": "noto", "heldout_style": "openmoji", "heldout_twemoji": "twemoji"
    }  # fmt: skip


def test_training_shards_are_random_samples_of_the_concepts(corpus) -> None:
    """Sorted by id, a training shard would hold one region of the code space (the flags, the
    faces) and a streamed window of few shards would batch look-alikes; the build scatters the
    training split over its shards by a seeded hash (the other splits stay in id order)."""
    data_dir, _ = corpus
    rows = read_manifest(data_dir, columns=["id", "split", "shard"]).to_pylist()
    train = [r for r in rows if r["split"] == "train"]
    by_shard: dict[str, list[str]] = defaultdict(list)
    for shard in sorted({r["shard"] for r in train}):
        by_shard[shard] = [key for key, _ in iter_shard(data_dir / shard)]
    written = [key for shard in sorted(by_shard) for key in by_shard[shard]]
    assert sorted(written) == sorted(r["id"] for r in train) and written != sorted(written)
    first, *_ = sorted(by_shard)
    ids = sorted(r["id"] for r in train)
    # the first shard's samples spread over the whole id range, not its first slice
    ranks = sorted(ids.index(key) for key in by_shard[first])
    assert ranks[0] < len(ids) // 4 and ranks[-1] > 3 * len(ids) // 4
    heldout = [r for r in rows if r["split"] == "heldout_style"]
    first_heldout = sorted({r["shard"] for r in heldout})[0]
    keys = [key for key, _ in iter_shard(data_dir / first_heldout)]
    assert keys == sorted(keys) == sorted(r["id"] for r in heldout)[: len(keys)]
