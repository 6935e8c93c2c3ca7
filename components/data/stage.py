"""The data build stage: fetch the source packages, build the corpus into the workdir's data/."""

from __future__ import annotations

from typing import Any

from components.settings import BuildInputs


def build(cfg: BuildInputs, seen: dict[str, str] | None = None) -> dict[str, Any]:
    """Build shards + manifest + card from the installed sources; returns the card. `seen`:
    the sources' fingerprint when the caller took it already (the flow's cache key)."""
    from components.data.build import build_corpus
    from components.data.errors import DataSourceError
    from components.data.sources.user_sources import FetchContext
    from components.data.watch import record_built_from

    fetching = FetchContext(cfg.ray_address, cfg.ray_temp_dir)
    # seen before reading: a source that changes during the build is a change afterwards;
    # one that cannot be seen now is the build's to report (its own words), unrecorded
    if seen is None:
        try:
            seen = source_fingerprint(cfg)
        except DataSourceError:
            seen = None
    card = build_corpus(
        cfg.data, cfg.paths.sources, cfg.paths.data, limits=cfg.limits, s3=cfg.s3,
        fetching=fetching,
    )  # fmt: skip
    if seen is not None:
        record_built_from(cfg.paths.workdir, seen)
    return card


def source_fingerprint(cfg: BuildInputs) -> dict[str, str]:
    """What each source holds now, cheaply (sources/fingerprint.py): part of the corpus's cache
    key, so a source that changed behind an unchanged name is built again."""
    from components.data.sources.fingerprint import source_fingerprint as fingerprint

    return fingerprint(cfg.data, cfg.s3)
