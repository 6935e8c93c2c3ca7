"""Fetch many URLs on Ray Data: `map_batches` over the URLs, each actor a pool of threads.

Fetching is waiting on the network, not computing, so one actor runs `threads` fetches at once
(a urllib3 pool shared by them) and the actors spread over the cluster's nodes. The results
come back in the order of the URLs (preserve_order), one row each: the bytes, or the reason
and detail of the failure, the last HTTP status and the attempts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from components.checks.reasons import Problem, Reason
from components.data.fetch.http_client import Fetched, FetchPolicy, fetch_url

log = logging.getLogger(__name__)

BATCH_ROWS = 64  # URLs per batch: small, so the bytes in flight stay small


@dataclass(frozen=True)
class FetchPlan:
    policy: FetchPolicy
    actors: int = 2  # concurrent map_batches actors (per build; each one CPU)
    threads: int = 16  # fetches at once per actor


class _FetchBatch:
    """A Ray Data actor: a connection pool and threads, reused across batches."""

    def __init__(self, policy: FetchPolicy, threads: int) -> None:
        import urllib3

        self.policy = policy
        self.pool = urllib3.PoolManager(num_pools=64, maxsize=threads, block=False)
        self.threads = ThreadPoolExecutor(max_workers=threads)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        urls = [str(url) for url in batch["url"]]
        results = list(self.threads.map(lambda u: fetch_url(u, self.pool, self.policy), urls))
        return {
            "index": batch["index"],
            "data": [r.data for r in results],
            "reason": [r.problem.reason.value if r.problem else "" for r in results],
            "detail": [r.problem.detail if r.problem else "" for r in results],
            "http_status": [r.http_status or 0 for r in results],
            "attempts": [r.attempts for r in results],
        }


@contextmanager
def ray_for_build(address: str | None, temp_dir: str) -> Iterator[None]:
    """The settings' Ray cluster, or a local Ray started for the build and stopped after."""
    import ray

    if ray.is_initialized():
        yield
        return
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, _temp_dir=temp_dir, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _fetched(row: dict[str, Any]) -> Fetched:
    status = int(row["http_status"]) or None
    if row["reason"]:
        problem = Problem(Reason(row["reason"]), str(row["detail"]))
        return Fetched(None, problem, status, int(row["attempts"]))
    return Fetched(bytes(row["data"]), None, status, int(row["attempts"]))


def fetch_urls(urls: Sequence[str], plan: FetchPlan) -> Iterator[Fetched]:
    """One Fetched per URL, in the URLs' order (Ray must be initialised)."""
    import ray.data

    if not urls:
        return
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # row i of the table, answer i
    context.enable_progress_bars = True
    blocks = max(1, min(len(urls) // 8, plan.actors * 8))  # every actor gets work
    items = [{"index": i, "url": url} for i, url in enumerate(urls)]
    fetched = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
        _FetchBatch,
        fn_constructor_kwargs={"policy": plan.policy, "threads": plan.threads},
        batch_size=BATCH_ROWS,
        concurrency=(1, plan.actors),
        num_cpus=1,
    )
    expected = 0
    for batch in fetched.iter_batches(batch_size=BATCH_ROWS, batch_format="pandas"):
        for row in batch.to_dict("records"):
            assert row["index"] == expected, "Ray Data returned the URLs out of order"
            expected += 1
            yield _fetched(row)
