"""Pass 2 of a build on Ray (`data.build_on_ray`): each output shard is written by a Ray task
that reads its images where they lie in the user's source shards.

The build process decided every member (pass 1, shard_scan.py, then admission, splits and
order); a task gets one output shard's list (sample id, metadata and caption members, the
image's `ImageAt` and sha256), reads the images (a local source shard opened confined to its
source and read at the offsets; an S3 one by ranged GETs, neighbouring ranges merged), checks
each image is still the bytes pass 1 checked, stores it as the build would (as given, or
resized: stored_image.py), writes the shard and puts it in the corpus folder or under its
content-addressed key on S3. Back come the shard's name and what the manifest records of each
image, never bytes: no one process carries the corpus.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any, NamedTuple

from components.data.corpus.records import ImageAt
from components.data.corpus.rolling_shards import Pair, Rows
from components.data.corpus.shard_store import shard_store
from components.data.corpus.stored_image import store_user_image
from components.data.corpus.stored_sample import StoredStats, manifest_row, text_members
from components.data.errors import DataSourceError
from components.data.ray_session import retried_task
from components.data.s3 import S3RangeFile, S3Store, is_s3
from components.data.sources.confined_read import open_confined
from components.data.sources.user_shards import roots_of
from components.errors import UserError
from components.settings import S3Access

MERGE_GAP = 1 << 20  # ranges of one S3 shard this close are fetched by one GET ...
MERGE_MOST = 64 << 20  # ... up to this many bytes
SHARDS_PER_CPU = 2  # output shards in flight per cluster CPU ...
MOST_SHARDS = 64  # ... and at most this many (their members' metadata waits in the build)


class Member(NamedTuple):
    """One sample of an output shard as its task receives it."""

    id: str
    text: dict[str, bytes]  # the json and txt members
    at: ImageAt
    sha256: str  # of the image's bytes, as pass 1 checked them


def _read_local(images: list[tuple[int, ImageAt]], found: dict[int, bytes]) -> None:
    first = images[0][1]
    fd = open_confined(Path(first.shard), roots_of(first.origin))
    if not isinstance(fd, int):
        raise DataSourceError(f"cannot read {first.shard} again: {fd.detail}")
    try:
        for n, at in images:
            found[n] = os.pread(fd, at.size, at.offset)
    finally:
        os.close(fd)


def _merged(images: list[tuple[int, ImageAt]]) -> list[list[tuple[int, ImageAt]]]:
    """Ranges of one shard in offset order, grouped where one GET can serve them."""
    groups: list[list[tuple[int, ImageAt]]] = []
    for n, at in sorted(images, key=lambda pair: pair[1].offset):
        if groups:
            start, last = groups[-1][0][1], groups[-1][-1][1]
            end = last.offset + last.size
            if at.offset - end <= MERGE_GAP and at.offset + at.size - start.offset <= MERGE_MOST:
                groups[-1].append((n, at))
                continue
        groups.append([(n, at)])
    return groups


def _read_s3(store: S3Store, images: list[tuple[int, ImageAt]], found: dict[int, bytes]) -> None:
    source = S3RangeFile(store, images[0][1].shard)  # ranges pinned to the ETag it has now
    for group in _merged(images):
        start = group[0][1].offset
        data = source.read_range(start, max(at.offset + at.size for _, at in group) - start)
        for n, at in group:
            found[n] = data[at.offset - start : at.offset - start + at.size]


def read_images(images: list[ImageAt], access: S3Access) -> list[bytes]:
    """The bytes of `images`, in their order, each source shard opened once."""
    by_shard: dict[str, list[tuple[int, ImageAt]]] = defaultdict(list)
    for n, at in enumerate(images):
        by_shard[at.shard].append((n, at))
    found: dict[int, bytes] = {}
    store = S3Store(access)
    for shard, located in by_shard.items():
        if is_s3(shard):
            _read_s3(store, located, found)
        else:
            _read_local(located, found)
    return [found[n] for n in range(len(images))]


def write_located_shard(
    split: str,
    index: int,
    members: list[Member],
    output: str,
    access: S3Access,
    max_side: int,
) -> Any:
    """Read, store and write one output shard (to the corpus folder `output`, or under the
    s3:// prefix `output`); returns (its name, {sample id: StoredStats}), or a user mistake's
    message (Ray would wrap the exception in its own traceback)."""
    try:
        images = read_images([m.at for m in members], access)
        files: dict[str, dict[str, bytes]] = {}
        stats: dict[str, StoredStats] = {}
        for member, data in zip(members, images, strict=True):
            if hashlib.sha256(data).hexdigest() != member.sha256:
                raise DataSourceError(
                    f"{member.at.shard} changed while the corpus was built (the image of "
                    f"{member.id} is not the one checked); build again"
                )
            stored = store_user_image(data, max_side)
            files[member.id] = {**member.text, stored.ext: stored.data}
            stats[member.id] = StoredStats.of(stored)
        with tempfile.TemporaryDirectory(prefix="shard-") as scratch:
            target = None if not is_s3(output) else output
            store = shard_store(Path(output), target, access, Path(scratch))
            name = store.put(split, index, files)
    except UserError as err:
        return str(err)
    return name, stats


class ShardsOnRay:
    """A ShardWriter whose shards are written by Ray tasks (Ray must be up): the corpus folder
    `root` must then be one every node sees, or `output` an s3:// prefix."""

    def __init__(self, root: Path, output: str | None, access: S3Access, max_side: int) -> None:
        import ray

        self.target = output or str(root)
        self.access, self.max_side = access, max_side
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.in_flight = min(MOST_SHARDS, max(2, SHARDS_PER_CPU * cpus))

    def submit(self, split: str, index: int, pairs: list[Pair]) -> Rows:
        import ray

        members = []
        for item, at in pairs:
            assert isinstance(at, ImageAt) and item.image.sha256, "pass 1 locates every image"
            members.append(Member(item.id, text_members(item), at, item.image.sha256))
        future = retried_task(write_located_shard).remote(
            split, index, members, self.target, self.access, self.max_side
        )

        def rows() -> list[dict[str, Any]]:
            answer = ray.get(future)
            if isinstance(answer, str):
                raise DataSourceError(answer)
            name, stats = answer
            return [manifest_row(item, stats[item.id], name) for item, _ in pairs]

        return rows
