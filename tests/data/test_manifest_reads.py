"""What the training driver learns from the manifest alone: the captions its tokenizer learns
from, and the corpus identity a run records. Neither opens a shard."""

from __future__ import annotations

import shutil

from components.data.corpus.manifest import shard_counts, split_captions
from components.data.corpus.reader import read_split
from components.model.config import load_config
from components.model.tokenizers import build_tokenizer
from components.tracking.lineage import corpus_checksum, manifest_sha256


def test_the_manifest_captions_are_the_shards_in_the_same_order(corpus, tmp_path) -> None:
    data_dir, _ = corpus
    shards = read_split(data_dir, "train")
    excluded = {shards[0].id, shards[5].id}
    from_shards = [c for s in shards if s.id not in excluded for c in s.captions]
    assert list(split_captions(data_dir, "train", excluded)) == from_shards
    assert len(from_shards) > 100

    # no shard is read: the same captions with every shard gone
    index_only = tmp_path / "data"
    index_only.mkdir()
    shutil.copy(data_dir / "manifest.parquet", index_only)
    assert list(split_captions(index_only, "train", excluded)) == from_shards

    text_cfg = load_config("clip-tiny").text_cfg
    for kind in ("word", "bpe"):
        learned = build_tokenizer(kind, split_captions(index_only, "train", excluded), text_cfg)
        assert learned.to_dict() == build_tokenizer(kind, from_shards, text_cfg).to_dict(), kind


def test_the_corpus_identity_is_the_manifest_hash(corpus, tmp_path) -> None:
    data_dir, _ = corpus
    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy)
    assert manifest_sha256(copy) == manifest_sha256(data_dir) != "absent"
    assert corpus_checksum(copy) == corpus_checksum(data_dir)
    (copy / "manifest.parquet").unlink()
    assert manifest_sha256(copy) == "absent"


def test_shard_counts_come_from_the_manifest(corpus) -> None:
    data_dir, _ = corpus
    samples = read_split(data_dir, "train")
    excluded = {samples[0].id}
    counts = shard_counts(data_dir, "train", excluded)
    assert sum(counts.values()) == len(samples) - 1
    assert all(name.endswith(".tar") and (data_dir / name).is_file() for name in counts)
