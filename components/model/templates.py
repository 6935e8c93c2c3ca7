"""Prompt templates for zero-shot classification, by name (templates.json) or given inline."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

TEMPLATES_FILE = Path(__file__).with_name("templates.json")


@lru_cache(maxsize=1)
def template_sets() -> dict[str, list[str]]:
    data = json.loads(TEMPLATES_FILE.read_text())
    return {name: list(templates) for name, templates in data.items() if not name.startswith("_")}


def resolve_templates(templates: str | list[str]) -> list[str]:
    """A named set ("imagenet": the paper's 80) or a list of templates, each with one "{}"."""
    if isinstance(templates, str):
        sets = template_sets()
        if templates not in sets:
            raise ValueError(
                f"unknown template set {templates!r} (known: {', '.join(sorted(sets))})"
            )
        templates = sets[templates]
    bad = [t for t in templates if t.count("{}") != 1]
    if bad or not templates:
        raise ValueError(
            f"every template needs exactly one '{{}}' for the label: {bad or 'none given'}"
        )
    return list(templates)
