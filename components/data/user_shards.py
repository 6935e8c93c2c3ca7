"""User data as WebDataset shards, the format img2dataset writes and open_clip reads.

A source is a folder of .tar files, a glob (`/x/shards-*.tar`), one .tar, or an S3 prefix
(`s3://bucket/prefix/`). Each sample has an image member (.jpg, .jpeg, .png, .webp) and a caption
in `.txt` and/or in the `caption` field of `.json` (which may also carry `license`).
"""

from __future__ import annotations

import glob
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from components.data.errors import DataSourceError, one_line
from components.data.records import SourceImage
from components.data.s3 import S3Store, is_s3
from components.data.user_records import parse_captions, user_image
from components.data.webdataset import image_part, iter_shard

SHARD_SUFFIX = ".tar"
_GLOB_CHARS = ("*", "?", "[")


def shard_locations(location: str, store: S3Store) -> list[str]:
    """The source's shards, sorted (local paths or s3:// URLs)."""
    if is_s3(location):
        found = [location] if location.endswith(SHARD_SUFFIX) else store.list_urls(location, ".tar")
    elif any(char in location for char in _GLOB_CHARS):
        found = [p for p in sorted(glob.glob(location)) if Path(p).is_file()]
    elif Path(location).is_dir():
        found = [str(p) for p in sorted(Path(location).glob(f"*{SHARD_SUFFIX}")) if p.is_file()]
    elif Path(location).is_file():
        found = [location]
    else:
        raise DataSourceError(
            f"user source {location} does not exist; data.user_sources takes a .csv/.parquet "
            "table, a folder or glob of WebDataset .tar shards, or an s3:// URL"
        )
    if not found:
        raise DataSourceError(
            f"user source {location} holds no {SHARD_SUFFIX} shards; point it at the folder, "
            "glob or s3:// prefix of your WebDataset shards"
        )
    return found


def _metadata(parts: dict[str, bytes]) -> dict[str, Any]:
    try:
        meta = json.loads(parts["json"]) if "json" in parts else {}
    except ValueError:  # a broken .json loses its extras; the .txt caption still counts
        return {}
    return meta if isinstance(meta, dict) else {}


def _sample(shard: str, key: str, parts: dict[str, bytes]) -> SourceImage:
    parts = {ext.lower(): data for ext, data in parts.items()}
    meta = _metadata(parts)
    caption = parts["txt"].decode("utf-8", errors="replace") if "txt" in parts else ""
    if not caption.strip() and isinstance(meta.get("caption"), str):
        caption = meta["caption"]
    image = image_part(parts)
    ext, data = image if image is not None else ("bin", b"")  # no image: kept, as zero bytes
    license_ = meta.get("license") if isinstance(meta.get("license"), str) else ""
    return user_image(
        origin=f"{shard}#{key}.{ext}",
        data=data,
        caption=caption,
        extra=parse_captions(meta.get("captions") or []),
        license_=license_,
    )


def _samples(shard: str, store: S3Store) -> Iterator[tuple[str, dict[str, bytes]]]:
    try:
        if is_s3(shard):
            yield from iter_shard(io.BytesIO(store.read(shard)))
        else:
            yield from iter_shard(Path(shard))
    except (tarfile.TarError, OSError, EOFError) as err:
        what = "not a tar archive" if isinstance(err, tarfile.ReadError) else one_line(err)
        raise DataSourceError(
            f"cannot read WebDataset shard {shard} ({what}); check that it is a complete .tar file"
        ) from err


def load_shards(location: str, store: S3Store) -> list[SourceImage]:
    """One user SourceImage per sample, shards in sorted order, samples in archive order."""
    images = [
        _sample(shard, key, parts)
        for shard in shard_locations(location, store)
        for key, parts in _samples(shard, store)
        if key  # a hidden file such as "._0001.jpg" (macOS metadata) is not a sample
    ]
    if not images:
        raise DataSourceError(f"the shards of user source {location} hold no samples")
    return images
