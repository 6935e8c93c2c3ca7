"""A cheap fingerprint of every source's current state, for the corpus's cache key.

The corpus is rebuilt when its parameters or code change, and also when a source changes behind
an unchanged name: a CSV that grows, new shards under an S3 prefix, a Debian package upgraded.
Each source gets one line, read without reading the data itself:
- npm packages: the pinned spec (name@version);
- Debian packages: the installed version of each apt package a source reads (dpkg);
- a local table: its size, mtime and sha256 (a table is small next to its images);
- local shards: each .tar's name, size and mtime (hashing the images would be the build);
- S3: one listing of the prefix (key, size, ETag per object), or the table object's.
Not seen: an image file replaced behind an unchanged table row (same path, new bytes) and the
answers of http(s) URLs; a rebuild (`--force`, or a changed parameter) reads them again.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from components.data.errors import DataSourceError
from components.data.s3 import S3Store, is_s3
from components.data.sources.debian_sources import SOURCES as DEBIAN_SOURCES
from components.data.sources.user_shards import SHARD_SUFFIX, local_shard_candidates
from components.data.sources.user_tables import is_table
from components.settings import DataConfig, S3Access
from components.tracking.hashing import sha256_file


def _digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode("utf-8", "surrogatepass")).hexdigest()


def _debian_version(package: str) -> str:
    try:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True
        )
    except OSError:  # no dpkg on this system: the files are all there is to go by
        return "no dpkg"
    return done.stdout.strip() if done.returncode == 0 else "not installed"


def _local_file(path: Path) -> str:
    try:
        info = path.stat()
    except OSError:
        return "missing"
    return f"{info.st_size}:{info.st_mtime_ns}:{sha256_file(path)}"


def _local_shards(location: str) -> str:
    try:
        shards = local_shard_candidates(location)
    except DataSourceError:
        return "missing"
    lines = []
    for shard in shards:
        try:
            info = os.stat(shard)
        except OSError:
            lines.append(f"{shard} missing")
            continue
        lines.append(f"{shard} {info.st_size} {info.st_mtime_ns}")
    return _digest(lines)


def _s3(location: str, store: S3Store) -> str:
    """One listing: of the prefix (shards), or of the table object's own key."""
    prefix = location if is_table(location) or location.endswith(SHARD_SUFFIX) else location
    listing = store.listing(prefix)
    if is_table(location) or location.endswith(SHARD_SUFFIX):
        listing = [entry for entry in listing if entry[0] == location]
    return (
        _digest([f"{url} {size} {etag}" for url, size, etag in listing]) if listing else "missing"
    )


def source_fingerprint(cfg: DataConfig, s3: S3Access | None = None) -> dict[str, str]:
    """One entry per source, named by kind and location. Raises DataSourceError when an S3
    store cannot be listed (the caller must then not reuse a cached corpus)."""
    found: dict[str, str] = {}
    packages = [cfg.train_package, cfg.heldout_package, *cfg.extra_train_packages]
    for spec in packages + cfg.extra_heldout_packages:
        found[f"npm {spec}"] = spec
    for name in cfg.debian_sources:
        for _, package in DEBIAN_SOURCES[name].needs:
            found[f"deb {package}"] = _debian_version(package)
    store = S3Store(s3 or S3Access())  # connects only if a source is on S3
    for location in cfg.user_sources:
        if is_s3(location):
            found[f"user {location}"] = _s3(location, store)
        elif is_table(location):
            found[f"user {location}"] = _local_file(Path(location))
        else:
            found[f"user {location}"] = _local_shards(location)
    return found
