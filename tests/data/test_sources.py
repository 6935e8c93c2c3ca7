from __future__ import annotations

from pathlib import Path

from components.data.sources.noto_emoji import load_noto
from components.data.sources.npm_packages import fetch_npm_package
from components.data.sources.openmoji import load_openmoji
from components.settings import DataConfig


def test_sources_share_concepts_by_code(sources_dir: Path, small_cfg: DataConfig) -> None:
    noto = load_noto(fetch_npm_package(small_cfg.train_package, sources_dir), False)
    openmoji = load_openmoji(fetch_npm_package(small_cfg.heldout_package, sources_dir), False)
    by_code = {image.code: image for image in noto}
    pepper = by_code["1F336"]  # "1F336-FE0F" in emoji.json
    assert pepper.name == "hot pepper" and pepper.captions[0] == "hot pepper"
    assert "hot pepper, food & drink emoji" in pepper.captions
    assert len({image.name for image in noto}) == len(noto), "concept names must be unique"
    assert {image.code for image in openmoji} >= set(by_code)
    om_pepper = next(image for image in openmoji if image.code == "1F336")
    assert om_pepper.captions[:3] == ("hot pepper", "hot", "pepper")
    assert om_pepper.path.suffix == ".svg" and om_pepper.license == "CC-BY-SA-4.0"


def test_skin_tones_repeat_their_base_concept(sources_dir: Path, small_cfg: DataConfig) -> None:
    noto = load_noto(fetch_npm_package(small_cfg.train_package, sources_dir), True)
    waves = [image for image in noto if image.base_code == "1F44B"]
    assert len(waves) == 6 and {image.base_code for image in waves} == {"1F44B"}
    assert "waving hand sign: medium skin tone" in {image.name for image in waves}
