"""Held-out styles' metric names, and back to the split a gate metric scores."""

from __future__ import annotations

import pytest

from components.model.heldout_metrics import metric_prefix, per_image_metric, probed_split
from components.settings import ConfigError, load_settings
from components.stages import check_settings


def test_a_metric_name_leads_back_to_its_split_and_k() -> None:
    for split in ("heldout_style", "heldout_twemoji", "heldout_noto"):
        for k in (1, 5):
            assert per_image_metric(f"{metric_prefix(split)}_top{k}") == (split, k)
    assert metric_prefix("heldout_style") == "zeroshot_heldout"  # the name before Twemoji
    # not the top-k of a whole held-out split: no per-image comparison, the default probe
    for other in (
        "zeroshot_heldout_flags_top1", "zeroshot_heldout_twemoji_nonflags_top5",
        "zeroshot_heldout_chance_top1", "retrieval_val_image_to_text_r1",
        "zeroshot_fashion_mnist_top1", "zeroshot_heldout_klingon_top1",
    ):  # fmt: skip
        assert per_image_metric(other) is None, other
        assert probed_split(other) == "heldout_style"
    assert probed_split("zeroshot_heldout_twemoji_top1") == "heldout_twemoji"


def test_the_default_gate_is_twemoji_and_it_needs_its_package() -> None:
    settings = load_settings("tiny")
    assert settings.evaluate.gate_metric == "zeroshot_heldout_twemoji_top1"
    check_settings(settings)
    without = load_settings("tiny", overrides={"data": {"extra_heldout_packages": []}})
    with pytest.raises(ConfigError, match="holds no such style"):
        check_settings(without)
    openmoji_gate = {"evaluate": {"gate_metric": "zeroshot_heldout_top1"}}
    check_settings(
        load_settings("tiny", overrides={**openmoji_gate, "data": without.data.model_dump()})
    )
