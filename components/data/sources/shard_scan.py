"""Pass 1 of a build on Ray (`data.build_on_ray`): each of a source's WebDataset shards is read
and checked by a Ray task on the cluster, and only what the build must decide on comes back.

A task streams one source shard (a local one opened confined to the source, an S3 one with one
GET), checks every sample as the build's threads would (full decode, sha256, captions) and
returns, per sample, its reference, checked captions and where its image lies in the shard
(`ImageAt`), never the image's bytes. The build process then admits, splits and assigns the
samples to output shards in source order, exactly as with the bytes in hand; pass 2
(located_shards.py) reads each output shard's images back by those ranges and writes it.
Tasks run ahead of the build by at most a few per cluster CPU and are taken back in order, so
the corpus is the same bytes as a build on one machine.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from components.checks.limits import SampleLimits
from components.data.corpus.rejections import Rejected
from components.data.errors import DataSourceError
from components.data.ray_session import retried_task
from components.data.s3 import S3Store, is_s3
from components.data.sources.user_admission import Verdict, verdict_of
from components.data.sources.user_records import UserCandidate
from components.data.sources.user_shards import roots_of, shard_locations, shard_samples
from components.errors import UserError
from components.settings import S3Access

SCANS_PER_CPU = 2  # source shards in flight per cluster CPU: one read, one queued ...
MOST_SCANS = 64  # ... and at most this many: their answers wait in the build's memory

Scanned = list[tuple[UserCandidate | Rejected, Verdict | None]]  # bytes left out


def scan_shard(location: str, shard: str, access: S3Access, limits: SampleLimits) -> Any:
    """One source shard's samples in archive order, each checked, with its image's bytes left
    in the shard (`at`). A user mistake (an S3 store that refuses us) comes back as its
    message: Ray would wrap the exception in its own traceback."""
    where = shard if is_s3(shard) else Path(shard)
    scanned: Scanned = []
    try:
        for item in shard_samples(location, where, S3Store(access), roots_of(location), limits):
            if isinstance(item, Rejected):
                scanned.append((item, None))
            else:
                scanned.append((replace(item, data=b""), verdict_of(item, limits)))
    except UserError as err:
        return str(err)
    return scanned


def scanned_samples(
    location: str, access: S3Access, limits: SampleLimits
) -> Iterator[tuple[UserCandidate | Rejected, Verdict | None]]:
    """Every sample of a WebDataset source, shards in sorted order, each with its verdict (None
    for a refusal found while reading), read and checked by Ray tasks (Ray must be up)."""
    import ray

    store = S3Store(access)
    shards = shard_locations(location, store, roots_of(location))
    cpus = int(ray.cluster_resources().get("CPU", 1))
    most = min(MOST_SCANS, max(2, SCANS_PER_CPU * cpus))
    pending: deque[Any] = deque()
    empty = True

    def answers(reference: Any) -> Scanned:
        got = ray.get(reference)
        if isinstance(got, str):
            raise DataSourceError(got)
        return got

    for shard in [*shards, None]:  # None: drain
        if isinstance(shard, Rejected):
            pending.append([(shard, None)])
        elif shard is not None:
            pending.append(retried_task(scan_shard).remote(location, str(shard), access, limits))
        while pending and (shard is None or len(pending) >= most):
            head = pending.popleft()
            for item in head if isinstance(head, list) else answers(head):
                empty = False
                yield item
    if empty:
        raise DataSourceError(f"the shards of user source {location} hold no samples")
