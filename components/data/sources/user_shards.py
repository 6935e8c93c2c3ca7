"""User data as WebDataset shards, the format img2dataset writes and open_clip reads.

A source is a folder of .tar files, a glob (`/x/shards-*.tar`), one .tar, or an S3 prefix
(`s3://bucket/prefix/`). Each sample has an image member (.jpg, .jpeg, .png, .webp) and a caption
in `.txt` and/or in the `caption` field of `.json` (which may also carry `license`).

Nothing outside the source is read: a shard that is a symlink leaving the folder (or an S3 key
with '..') is refused as outside_root. Shards are streamed member by member, never extracted to
disk: a member's name cannot write anywhere, a link member is refused (irregular_member), and a
shard cut off in the middle keeps the samples before the damage (the rest is unreadable_shard).
"""

from __future__ import annotations

import glob
import json
import os
import tarfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import IO, Any

from components.checks.image import too_many_bytes
from components.checks.limits import SampleLimits
from components.checks.reasons import Problem, Reason
from components.data.corpus.raw_text import as_bytes
from components.data.corpus.records import ImageAt
from components.data.corpus.rejections import Rejected
from components.data.corpus.webdataset import image_part
from components.data.errors import DataSourceError
from components.data.s3 import S3Store, is_s3
from components.data.sources.confined_read import open_confined
from components.data.sources.confinement import Roots, has_dot_segments
from components.data.sources.user_records import UserCandidate, parse_captions

SHARD_SUFFIX = ".tar"
_GLOB_CHARS = ("*", "?", "[")


def source_roots(location: str) -> Roots:
    """The folder a local source confines its shards to: the folder itself, the fixed part of
    a glob, or a single shard's folder."""
    if any(char in location for char in _GLOB_CHARS):
        fixed = location[: min(location.index(c) for c in _GLOB_CHARS if c in location)]
        return Roots.of([fixed.rpartition("/")[0] or "."])
    path = Path(location).absolute()
    return Roots.of([str(path if path.is_dir() else path.parent)])


def roots_of(location: str) -> Roots:
    """What a source's shards are confined to: an S3 source's keys were listed under it."""
    return Roots((), ()) if is_s3(location) else source_roots(location)


def local_shard_candidates(location: str) -> list[str]:
    if any(char in location for char in _GLOB_CHARS):
        return sorted(p for p in glob.glob(location) if p.endswith(SHARD_SUFFIX))
    if Path(location).is_dir():
        return [str(p) for p in sorted(Path(location).glob(f"*{SHARD_SUFFIX}"))]
    if Path(location).exists() or Path(location).is_symlink():
        return [location]
    raise DataSourceError(
        f"user source {location} does not exist; data.user_sources takes a .csv/.parquet "
        "table, a folder or glob of WebDataset .tar shards, or an s3:// URL"
    )


def shard_locations(location: str, store: S3Store, roots: Roots) -> list[str | Path | Rejected]:
    """The source's shards, sorted: real local paths (inside the local `roots`) or s3:// URLs,
    and a rejection for each one that lies outside the source."""
    found: list[str | Path | Rejected] = []
    if is_s3(location):
        urls = [location] if location.endswith(SHARD_SUFFIX) else store.list_urls(location, ".tar")
        for url in urls:
            if has_dot_segments(url.partition("://")[2].partition("/")[2]):
                problem = Problem(Reason.OUTSIDE_ROOT, f"{url} has '.' or '..' in its key")
                found.append(Rejected.of(location, url, None, problem))
            else:
                found.append(url)
    else:
        for candidate in local_shard_candidates(location):
            real = Path(os.path.realpath(candidate))
            if roots.admits_path(real):
                found.append(real)
            else:
                where = roots.describe()
                problem = Problem(
                    Reason.OUTSIDE_ROOT, f"{candidate} is a symlink to {real}, outside {where}"
                )
                found.append(Rejected.of(location, candidate, None, problem))
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


def _sample(
    source: str, shard: str, key: str, parts: dict[str, bytes], ranges: dict[str, tuple[int, int]]
) -> UserCandidate | Rejected:
    reference = f"{shard}#{key}"
    meta = _metadata(parts)
    caption = parts.get("txt", b"")
    if not caption.strip() and isinstance(meta.get("caption"), str):
        caption = as_bytes(meta["caption"])
    image = image_part(parts)
    if image is None:
        problem = Problem(Reason.MISSING_MEMBER, "the sample has no image member")
        return Rejected.of(source, reference, None, problem)
    extra = tuple(as_bytes(c) for c in parse_captions(meta.get("captions") or []))
    license_ = meta.get("license") if isinstance(meta.get("license"), str) else ""
    at = ImageAt(source, shard, *ranges[image[0]])
    return UserCandidate(source, reference, None, image[1], (caption, *extra), license_, at)


def _stream(
    source: str, shard: str, handle: IO[bytes], limits: SampleLimits
) -> Iterator[UserCandidate | Rejected]:
    """The samples of one shard, in archive order."""
    key, parts, problem = None, {}, None
    ranges: dict[str, tuple[int, int]] = {}  # extension -> (first byte, length) in the shard

    def finish() -> UserCandidate | Rejected:
        if problem is not None:
            return Rejected.of(source, f"{shard}#{key}", None, problem)
        return _sample(source, shard, key, parts, ranges)

    n_samples = 0
    try:
        with tarfile.open(fileobj=handle, mode="r|") as archive:  # a stream: one pass, no seeks
            for info in archive:
                name = info.name.rsplit("/", 1)[-1]
                member_key, _, ext = name.partition(".")
                if not member_key:  # a folder entry, or a hidden "._0001.jpg" (macOS metadata)
                    continue
                if member_key != key:
                    if key is not None:
                        yield finish()
                        n_samples += 1
                    key, parts, ranges, problem = member_key, {}, {}, None
                if problem is not None:
                    continue
                if not info.isfile():  # a link can point at another member or at nothing
                    problem = Problem(Reason.IRREGULAR_MEMBER, f"{name} is a link or device entry")
                elif info.size > limits.max_image_bytes:
                    problem = too_many_bytes(info.size, limits)
                else:
                    extracted = archive.extractfile(info)
                    parts[ext.lower()] = extracted.read() if extracted is not None else b""
                    ranges[ext.lower()] = (info.offset_data, info.size)
    except (tarfile.TarError, OSError, EOFError) as err:
        where = f"after {n_samples} samples" if n_samples else "at its start"
        what = "not a tar archive" if isinstance(err, tarfile.ReadError) and not n_samples else err
        problem = Problem(Reason.UNREADABLE_SHARD, f"{shard} is damaged {where}: {what}")
        yield Rejected.of(source, shard, None, problem)
        return
    if key is not None:
        yield finish()


def shard_samples(
    location: str, shard: str | Path, store: S3Store, roots: Roots, limits: SampleLimits
) -> Iterator[UserCandidate | Rejected]:
    """One shard's samples: a local one opened confined to the source, an S3 one streamed."""
    if isinstance(shard, Path):
        fd = open_confined(shard, roots)
        if isinstance(fd, Problem):
            yield Rejected.of(location, str(shard), None, fd)
            return
        with os.fdopen(fd, "rb") as handle:
            yield from _stream(location, str(shard), handle, limits)
        return
    found = store.open_object(shard)
    if isinstance(found, str):
        problem = Problem(Reason.UNREADABLE_FILE, f"{shard}: {found}")
        yield Rejected.of(location, shard, None, problem)
        return
    with closing(found[1]) as body:
        yield from _stream(location, shard, body, limits)


def load_shards(
    location: str, store: S3Store, limits: SampleLimits
) -> Iterator[UserCandidate | Rejected]:
    """One candidate or rejection per sample, shards in sorted order, samples in archive order."""
    roots = roots_of(location)
    empty = True
    for shard in shard_locations(location, store, roots):
        if isinstance(shard, Rejected):
            empty = False
            yield shard
            continue
        for sample in shard_samples(location, shard, store, roots, limits):
            empty = False
            yield sample
    if empty:
        raise DataSourceError(f"the shards of user source {location} hold no samples")
