"""WebDataset tar shards, written deterministically and read back grouped by sample key.

The layout is what img2dataset writes and open_clip/webdataset read: consecutive members
`<key>.<ext>` form one sample.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePath
from typing import IO

Sample = tuple[str, dict[str, bytes]]  # (key, {extension: bytes})

# Image members, in the order a reader prefers them when a sample has several. The corpus's own
# images are always .png; shards from elsewhere (a user's, img2dataset's) may hold the others,
# and .bin for bytes of no image type, which the validation gate names when it rejects them.
IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "gif")
UNKNOWN_IMAGE_EXTENSION = "bin"
TEXT_EXTENSIONS = ("txt", "json")  # the caption and the metadata: never an image


def image_part(parts: Mapping[str, bytes]) -> tuple[str, bytes] | None:
    """(extension, bytes) of a sample's image member, whatever its type; None if it has none."""
    for ext in (*IMAGE_EXTENSIONS, UNKNOWN_IMAGE_EXTENSION):
        if ext in parts:
            return ext, parts[ext]
    others = sorted(ext for ext in parts if ext not in TEXT_EXTENSIONS)
    return (others[0], parts[others[0]]) if others else None


def _member(name: str, size: int) -> tarfile.TarInfo:
    # fixed metadata: the archive's bytes depend only on names and contents
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_shard(path: Path, samples: Mapping[str, Mapping[str, bytes]]) -> None:
    """Write `{key: {ext: bytes}}` to `path`, keys and extensions in sorted order."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for key in sorted(samples):
            if "." in key or "/" in key:
                raise ValueError(f"a WebDataset key cannot contain '.' or '/': {key!r}")
            for ext, data in sorted(samples[key].items()):
                archive.addfile(_member(f"{key}.{ext}", len(data)), io.BytesIO(data))


def iter_shard(path: Path | IO[bytes], sequential: bool = False) -> Iterator[Sample]:
    """Yield (key, {ext: bytes}) per sample, in archive order (from a file or a file object;
    `sequential`: a stream that cannot seek, such as an S3 object's body)."""
    key: str | None = None
    parts: dict[str, bytes] = {}
    if isinstance(path, str | PurePath):
        archive = tarfile.open(path, "r")
    else:
        archive = tarfile.open(fileobj=path, mode="r|" if sequential else "r")
    with archive:
        for info in archive:
            if not info.isfile():
                continue
            name = info.name.rsplit("/", 1)[-1]
            member_key, _, ext = name.partition(".")
            if member_key != key and key is not None:
                yield key, parts
                parts = {}
            key = member_key
            extracted = archive.extractfile(info)
            assert extracted is not None  # a regular file always has a stream
            parts[ext] = extracted.read()
    if key is not None:
        yield key, parts
