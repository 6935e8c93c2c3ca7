"""Opt-in sources from Debian packages (data.debian_sources), read from the installed files.

The packages must be installed (scripts/install_debian_sources.sh): a missing one FAILS these
tests rather than skipping them, so the feature cannot silently go untested.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from pydantic import ValidationError

from components.data.build import build_corpus
from components.data.corpus.manifest import read_manifest
from components.data.corpus.reader import read_split
from components.data.errors import DataSourceError
from components.data.sources import debian_sources
from components.data.sources.fashion_mnist import CLASSES as FASHION_CLASSES
from components.data.sources.flags import ISO_3166, country_names
from components.data.sources.playing_cards import CLASSES as CARD_CLASSES
from components.data.sources.playing_cards import load_playing_cards
from components.data.sources.tuxpaint import STAMPS
from components.settings import DataConfig, load_settings
from components.validation.gate import validate_corpus

ALL = ["tuxpaint", "openclipart", "fashion-mnist", "flags", "playing-cards"]
SMALL = {
    "max_concepts": 6, "image_size": 32, "val_fraction": 0.2, "samples_per_shard": 64,
    "debian_sources": ALL, "debian_max_images_per_source": 20, "label_set_max_per_class": 3,
}  # fmt: skip


def _cfg(base: DataConfig, **changes: object) -> DataConfig:
    return DataConfig(**{**base.model_dump(), **SMALL, **changes})


@pytest.fixture(scope="module")
def installed() -> None:
    try:
        debian_sources.check_installed(ALL)
    except DataSourceError as err:
        pytest.fail(f"{err}. Run scripts/install_debian_sources.sh (as root) first.")


@pytest.fixture(scope="module")
def built(installed, tmp_path_factory, sources_dir, small_cfg):
    out = tmp_path_factory.mktemp("debian") / "data"
    card = build_corpus(_cfg(small_cfg), sources_dir, out)
    return out, card, read_manifest(out).to_pylist()


def _rows(rows: list[dict], source: str) -> list[dict]:
    return [row for row in rows if row["source"] == source]


def test_every_source_lands_in_its_splits_with_its_license(built) -> None:
    _, card, rows = built
    expected = {
        "tuxpaint": ({"train", "val"}, "GPL-2.0"),
        "openclipart": ({"train", "val"}, "CC0-1.0"),
        "fashion-mnist": ({"zeroshot_fashion_mnist"}, "MIT"),
        "flags": ({"zeroshot_flags"}, "LicenseRef-public-domain"),
        "playing-cards": ({"zeroshot_playing_cards"}, "CC0-1.0"),
    }
    for source, (splits, license_) in expected.items():
        mine = _rows(rows, source)
        assert mine, source
        assert {row["split"] for row in mine} <= splits and {r["license"] for r in mine} == {
            license_
        }
    assert len(_rows(rows, "tuxpaint")) == 20 and len(_rows(rows, "openclipart")) <= 20
    assert {row["split"] for row in rows if row["source"] in ("tuxpaint", "openclipart")} == {
        "train",
        "val",
    }
    assert [entry["name"] for entry in card["sources"]["debian"]] == [
        "fashion-mnist", "flags", "playing-cards", "tuxpaint", "openclipart",
    ]  # fmt: skip
    assert card["build"]["debian_sources"] == ALL
    assert all(row["width"] == row["height"] == 32 for row in rows)


def test_captions_come_from_the_packages(built) -> None:
    _, _, rows = built
    for row in _rows(rows, "tuxpaint"):
        assert row["concept"] == row["caption"]
    # a Tux Paint caption is its .txt's first line, the category its second caption
    root = debian_sources.USR_SHARE / STAMPS
    categories = defaultdict(set)  # first line of a caption file -> its categories
    for path in root.rglob("*.txt"):
        first = path.read_text(encoding="utf-8").splitlines()[0].strip().lstrip("\ufeff")
        categories[first].add(path.relative_to(root).parts[0])
    for row in _rows(rows, "tuxpaint"):
        assert row["captions"][1] in categories[row["caption"]]
    assert all(row["caption"] for row in _rows(rows, "openclipart"))
    fashion = _rows(rows, "fashion-mnist")
    assert {row["concept"] for row in fashion} == set(FASHION_CLASSES)
    for name in FASHION_CLASSES:
        assert sum(row["concept"] == name for row in fashion) == 3
    names = {name for name, _ in country_names(debian_sources.USR_SHARE / ISO_3166).values()}
    flags = {row["caption"] for row in _rows(rows, "flags")}
    assert {"France", "United States", "South Korea", "Norway"} <= flags <= names
    cards = _rows(rows, "playing-cards")
    assert {row["concept"] for row in cards} == set(CARD_CLASSES) and len(cards) == 52 * 3


def test_playing_cards_uncapped_are_four_decks_of_52(installed, small_cfg) -> None:
    cards = load_playing_cards(debian_sources.USR_SHARE, _cfg(small_cfg, label_set_max_per_class=0))
    assert len({card.name for card in cards}) == 52 and len(cards) == 4 * 52
    assert {"ace of spades", "ten of hearts", "king of clubs"} <= set(CARD_CLASSES)


def test_label_sets_are_never_trained_on_and_the_reader_reads_them(built) -> None:
    out, _, rows = built
    training = {row["image_sha256"] for row in rows if row["split"] in ("train", "val")}
    held = {row["image_sha256"] for row in rows if row["split"].startswith("zeroshot_")}
    assert not training & held
    samples = read_split(out, "zeroshot_flags")
    assert len(samples) == len(_rows(rows, "flags")) and samples[0].captions[0]


def test_the_corpus_passes_the_gate(built, tmp_path) -> None:
    out, _, rows = built
    cfg = load_settings(profile="default").validate_
    report = validate_corpus(out, cfg.model_copy(update={"min_rows": 20}), tmp_path / "report")
    assert report.passed and report.n_rejected == 0 and report.n_rows == len(rows)


def test_the_same_parameters_give_the_same_bytes(installed, built, tmp_path, sources_dir,
                                                 small_cfg, digest) -> None:  # fmt: skip
    out, _, _ = built
    build_corpus(_cfg(small_cfg), sources_dir, tmp_path / "again")
    assert digest(tmp_path / "again") == digest(out)


def test_an_unknown_source_lists_the_known_ones(small_cfg) -> None:
    with pytest.raises(ValidationError, match="playing-cards"):
        _cfg(small_cfg, debian_sources=["tuxpaint", "cifar"])


def test_a_missing_package_names_what_to_install(monkeypatch, tmp_path, sources_dir,
                                                 small_cfg) -> None:  # fmt: skip
    monkeypatch.setattr(debian_sources, "USR_SHARE", tmp_path)
    for name, package in [
        ("tuxpaint", "tuxpaint-stamps-default"),
        ("openclipart", "openclipart-svg"),
        ("fashion-mnist", "dataset-fashion-mnist"),
        ("flags", "iso-flags-png-320x240"),
        ("playing-cards", "openclipart-svg"),
    ]:
        with pytest.raises(DataSourceError, match=f"{package}.*install_debian_sources.sh"):
            build_corpus(_cfg(small_cfg, debian_sources=[name]), sources_dir, tmp_path / "d")
    assert not (tmp_path / "d").exists()


def test_flags_need_iso_codes_too(monkeypatch, tmp_path) -> None:
    (tmp_path / "iso-flags-png-320x240").mkdir()
    monkeypatch.setattr(debian_sources, "USR_SHARE", tmp_path)
    with pytest.raises(DataSourceError, match="package iso-codes"):
        debian_sources.check_installed(["flags"])
