import pytest

from components.model.templates import resolve_templates, template_sets
from components.settings import ConfigError, load_settings
from components.stages import check_settings


def test_the_papers_80_imagenet_templates():
    imagenet = template_sets()["imagenet"]
    assert len(imagenet) == len(set(imagenet)) == 80
    assert "itap of a {}." in imagenet and "a photo of a {}." in imagenet


def test_every_set_fills_one_label():
    for name, templates in template_sets().items():
        assert resolve_templates(name) == templates
        assert all(t.count("{}") == 1 for t in templates), name


def test_settings_name_a_set_and_bad_templates_fail_at_load():
    assert resolve_templates(load_settings("tiny").evaluate.templates) == template_sets()["emoji"]
    with pytest.raises(ConfigError, match="unknown template set"):
        check_settings(load_settings("tiny", overrides={"evaluate": {"templates": "no-such-set"}}))
    with pytest.raises(ConfigError, match="exactly one"):
        check_settings(
            load_settings("tiny", overrides={"evaluate": {"templates": ["no placeholder"]}})
        )
