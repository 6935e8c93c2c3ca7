"""A second training style (Twemoji) of the same concepts, from data.extra_train_packages."""

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


def _cfg(base: DataConfig, extra: list[str]) -> DataConfig:
    changes = {"max_concepts": 12, "val_fraction": 0.25, "extra_train_packages": extra}
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
