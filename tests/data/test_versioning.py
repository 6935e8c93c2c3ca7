"""Building the corpus twice gives the same data.dvc hash: the dataset version is a checksum."""

from __future__ import annotations

import shutil

from components.data.build import build_corpus
from components.data.corpus.versioning import dvc_add_data
from components.settings import load_settings


def test_rebuild_gives_the_same_data_dvc_hash(workdir_with_sources, small_cfg):
    settings = load_settings("tiny", workdir=workdir_with_sources)
    build_corpus(small_cfg, settings.paths.sources, settings.paths.data)
    first = dvc_add_data(settings)
    assert first.endswith(".dir") and len(first) == len("0" * 32 + ".dir")

    shutil.rmtree(settings.paths.data)
    build_corpus(small_cfg, settings.paths.sources, settings.paths.data)
    assert dvc_add_data(settings) == first

    other = small_cfg.model_copy(update={"seed": small_cfg.seed + 1})
    build_corpus(other, settings.paths.sources, settings.paths.data)
    assert dvc_add_data(settings) != first  # a different selection is a different version
