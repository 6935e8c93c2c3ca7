"""Where the gate's shard checks run: threads in the gate's process for a small corpus, Ray Data
tasks (one shard each, one CPU each, on every node of the cluster) for a large one, so that no
one process decodes a whole large corpus."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat
from typing import TYPE_CHECKING, Any, Protocol

from components.validation.shard_check import RowVerdict, ShardJob, check_shard

if TYPE_CHECKING:
    from components.settings import ValidateConfig

ShardResult = tuple[list[RowVerdict], list[str]]  # per row's verdict, the unlisted keys
MAX_THREADS = 8


class ShardRunner(Protocol):
    def run(self, jobs: Sequence[ShardJob], cfg: ValidateConfig) -> Iterator[ShardResult]:
        """Each job's result, in the jobs' order."""
        ...


class ThreadRunner:
    """Threads of this process: Pillow decodes and hashlib hashes without the GIL."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or min(os.cpu_count() or 1, MAX_THREADS)

    def run(self, jobs: Sequence[ShardJob], cfg: ValidateConfig) -> Iterator[ShardResult]:
        if self.workers == 1 or len(jobs) < 2:
            yield from (check_shard(job, cfg) for job in jobs)
            return
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            yield from pool.map(check_shard, jobs, repeat(cfg))


def _check_jobs(batch: dict[str, Any], cfg: ValidateConfig) -> dict[str, Any]:
    results = [check_shard(pickle.loads(job), cfg) for job in batch["job"]]
    return {"result": [pickle.dumps(result) for result in results]}


class RayRunner:
    """Ray Data tasks on the initialised Ray: a shard per task. The workers open the shards by
    the paths the driver located, so the corpus folder must be visible to every node that
    runs them (one machine, or a shared filesystem)."""

    def run(self, jobs: Sequence[ShardJob], cfg: ValidateConfig) -> Iterator[ShardResult]:
        import ray.data

        from components.data.ray_session import ordered_quiet_data_context

        if not jobs:
            return
        ordered_quiet_data_context()  # result i belongs to job i
        items = [{"job": pickle.dumps(job)} for job in jobs]
        checked = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            _check_jobs, fn_kwargs={"cfg": cfg}, batch_size=1, num_cpus=1
        )
        for row in checked.iter_rows():
            yield pickle.loads(row["result"])
