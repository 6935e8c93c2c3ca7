"""Decode checks against real shards, without great_expectations."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pandas as pd

from components.checks.reasons import Problem, Reason
from components.validation.decode_checks import locate_shard, run_decode_checks

from .corpus_factory import (
    Sample,
    good_samples,
    manifest_row,
    noise_png,
    write_corpus,
    write_tar,
)
from .validation_support import TEST_LIMITS, params_config

CFG = params_config(**TEST_LIMITS)


def _reason(found: Path | Problem) -> Reason | None:
    return found.reason if isinstance(found, Problem) else None


def test_locate_shard_confines_paths_to_the_root(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "shards").mkdir(parents=True)
    (root / "shards" / "train-00000.tar").write_bytes(b"")
    (tmp_path / "outside.tar").write_bytes(b"")
    os.symlink(tmp_path / "outside.tar", root / "shards" / "link.tar")
    os.symlink(root / "shards" / "train-00000.tar", root / "shards" / "alias.tar")
    root = root.resolve()

    assert locate_shard(root, "shards/train-00000.tar") == root / "shards" / "train-00000.tar"
    assert locate_shard(root, "shards/alias.tar") == root / "shards" / "train-00000.tar"
    escapes = ["../outside.tar", "shards/../../outside.tar", str(tmp_path / "outside.tar"),
               "/etc/passwd", "shards/link.tar", "shards\\..\\..\\outside.tar"]  # fmt: skip
    for shard in escapes:
        assert _reason(locate_shard(root, shard)) == Reason.PATH_ESCAPE, shard
    assert _reason(locate_shard(root, "shards/none.tar")) == Reason.MISSING_SHARD
    assert _reason(locate_shard(root, "")) == Reason.MISSING_FIELD


def _manifest(data_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(data_dir / "manifest.parquet")


def test_clean_shards_pass(tmp_path: Path) -> None:
    data_dir = write_corpus(tmp_path / "data", good_samples(12))
    result = run_decode_checks(data_dir, _manifest(data_dir), CFG)
    assert result.problems == {} and result.unlisted == () and result.n_checked == 12


def test_later_duplicate_is_rejected_and_first_kept(tmp_path: Path) -> None:
    samples = good_samples(4)
    samples.insert(1, Sample("copy", samples[2].image))  # manifest: good-000, copy, good-001...
    data_dir = write_corpus(tmp_path / "data", samples)
    manifest = _manifest(data_dir)
    result = run_decode_checks(data_dir, manifest, CFG)
    rejected = {manifest["id"].iat[pos]: p.detail for pos, p in result.problems.items()}
    assert rejected == {"good-002": "same pixels as 'copy'"}  # manifest order decides


def test_skipped_rows_are_not_read(tmp_path: Path) -> None:
    samples = good_samples(3) + [Sample("broken", b"")]
    data_dir = write_corpus(tmp_path / "data", samples)
    result = run_decode_checks(data_dir, _manifest(data_dir), CFG, skip_rows={3})
    assert result.problems == {} and result.n_checked == 3


def test_cut_off_shard_keeps_the_members_before_the_damage(tmp_path: Path) -> None:
    samples = good_samples(3)
    shard = tmp_path / "data" / "shards" / "train-00000.tar"
    write_tar(shard, samples)
    manifest = pd.DataFrame([manifest_row(s, "shards/train-00000.tar") for s in samples])
    with tarfile.open(shard) as tar:
        last = tar.getmember("good-002.png")
    os.truncate(shard, last.offset_data + 10)  # cut inside the last image
    result = run_decode_checks(tmp_path / "data", manifest, CFG)
    assert {pos: p.reason for pos, p in result.problems.items()} == {2: Reason.UNREADABLE_SHARD}


def test_samples_missing_from_the_manifest_are_reported(tmp_path: Path) -> None:
    samples = good_samples(3) + [Sample("stowaway", noise_png(77), listed=False)]
    data_dir = write_corpus(tmp_path / "data", samples)
    result = run_decode_checks(data_dir, _manifest(data_dir), CFG)
    assert [(key, p.reason) for key, p in result.unlisted] == [("stowaway", Reason.NOT_IN_MANIFEST)]
