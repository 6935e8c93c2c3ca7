"""Training captions drawn from templated forms of the concept's name (train.caption_templates):
off, the draws are exactly those of a run without them; on, the evaluation's prompt words reach
training and the tokenizer."""

from __future__ import annotations

import random

import pytest

from components.settings import ConfigError, load_settings
from components.stages import check_settings
from components.training.ray_ingest import NO_TEMPLATES, CaptionTemplates

CAPTIONS = ["grinning face", "happy", "smile"]


def test_without_templates_the_captions_are_drawn_as_before() -> None:
    for seed in range(50):
        before = CAPTIONS[random.Random(seed).randrange(len(CAPTIONS))]
        assert NO_TEMPLATES.pick(CAPTIONS, "grinning face", random.Random(seed)) == before


def test_templates_fill_the_concept_name_at_their_rate() -> None:
    templates = CaptionTemplates(("an icon of {}.", "a {} emoji."), 0.5)
    picked = [templates.pick(CAPTIONS, "grinning face", random.Random(s)) for s in range(400)]
    templated = [p for p in picked if p in ("an icon of grinning face.", "a grinning face emoji.")]
    assert 0.4 < len(templated) / len(picked) < 0.6
    assert set(picked) - set(templated) <= set(CAPTIONS)
    always = CaptionTemplates(("{}",), 1.0)
    assert always.pick(CAPTIONS, "grinning face", random.Random(0)) == "grinning face"


def test_a_users_caption_is_never_templated() -> None:
    """Templates fill a concept name; a user's sample (a photo, say) has no name but its
    caption: it keeps its own caption, drawn exactly as without templates."""
    always = CaptionTemplates(("an icon of {}.",), 1.0)
    for seed in range(50):
        before = CAPTIONS[random.Random(seed).randrange(len(CAPTIONS))]
        for source in ("user", "tuxpaint", "openclipart"):
            assert always.pick(CAPTIONS, CAPTIONS[0], random.Random(seed), source) == before
        assert always.pick(CAPTIONS, "cat", random.Random(seed), "twemoji") == "an icon of cat."


def test_an_unknown_template_set_is_refused_at_load() -> None:
    settings = load_settings("tiny", overrides={"train": {"caption_templates": "no-such-set"}})
    with pytest.raises(ConfigError, match="train.caption_templates: unknown template set"):
        check_settings(settings)
