"""The data build stage: fetch the source packages, build the corpus into the workdir's data/."""

from __future__ import annotations

from typing import Any

from components.settings import Settings


def build(settings: Settings) -> dict[str, Any]:
    """Build shards + manifest + card from the installed sources; returns the card."""
    from components.data.build import build_corpus

    return build_corpus(
        settings.data,
        settings.paths.sources,
        settings.paths.data,
        limits=settings.validate_,
        s3=settings.services.s3,
    )
