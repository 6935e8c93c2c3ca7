"""Fetch many URLs (http, https, s3) on Ray Data: `map_batches` over them, each actor a pool
of threads.

Fetching is waiting on the network, not computing, so one actor runs `threads` fetches at once
(a urllib3 pool shared by them) and the actors spread over the cluster's nodes. The results
come back in the order of the URLs (preserve_order), one row each: the bytes, or the reason
and detail of the failure, the last HTTP status and the attempts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from components.checks.reasons import Problem, Reason
from components.data.errors import DataSourceError
from components.data.fetch.http_client import Fetched, FetchPolicy, fetch_url
from components.data.fetch.s3_fetch import read_s3
from components.data.ray_session import ordered_quiet_data_context
from components.data.s3 import S3Store, is_s3
from components.settings import S3Access

BATCH_ROWS = 64  # URLs per batch: small, so the bytes in flight stay small


@dataclass(frozen=True)
class FetchPlan:
    policy: FetchPolicy
    actors: int = 2  # concurrent map_batches actors (per build; each one CPU)
    threads: int = 16  # fetches at once per actor
    s3: S3Access | None = None  # how s3:// objects are reached (None: boto3's defaults)


class _FetchBatch:
    """A Ray Data actor: a connection pool, an S3 client and threads, reused across batches."""

    def __init__(self, plan: FetchPlan) -> None:
        import urllib3

        self.policy = plan.policy
        self.pool = urllib3.PoolManager(num_pools=64, maxsize=plan.threads, block=False)
        self.store = S3Store(plan.s3 or S3Access())  # a client made on first use
        self.threads = ThreadPoolExecutor(max_workers=plan.threads)

    def _fetch(self, url: str) -> Fetched | str:
        """The answer, or the message of a store that cannot be reached at all (the build's
        problem, raised on the driver: an exception would reach it as a Ray traceback)."""
        if not is_s3(url):
            return fetch_url(url, self.pool, self.policy)
        try:
            found = read_s3(url, self.store, self.policy.max_bytes)
        except DataSourceError as err:
            return str(err)
        if isinstance(found, Problem):
            return Fetched(None, found)
        return Fetched(found[0], None, etag=found[1])

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        urls = [str(url) for url in batch["url"]]
        answers = list(self.threads.map(self._fetch, urls))
        fatal = next((a for a in answers if isinstance(a, str)), "")
        results = [a if isinstance(a, Fetched) else Fetched(None, None) for a in answers]
        return {
            "fatal": [fatal] * len(urls),
            "index": batch["index"],
            "data": [r.data for r in results],
            "reason": [r.problem.reason.value if r.problem else "" for r in results],
            "detail": [r.problem.detail if r.problem else "" for r in results],
            "http_status": [r.http_status or 0 for r in results],
            "attempts": [r.attempts for r in results],
            "etag": [r.etag or "" for r in results],
        }


def _fetched(row: dict[str, Any]) -> Fetched:
    status = int(row["http_status"]) or None
    if row["reason"]:
        problem = Problem(Reason(row["reason"]), str(row["detail"]))
        return Fetched(None, problem, status, int(row["attempts"]))
    etag = str(row["etag"]) or None
    return Fetched(bytes(row["data"]), None, status, int(row["attempts"]), etag=etag)


def fetch_urls(urls: Sequence[str], plan: FetchPlan) -> Iterator[Fetched]:
    """One Fetched per URL, in the URLs' order (Ray must be initialised)."""
    import ray.data

    if not urls:
        return
    ordered_quiet_data_context()  # row i of the table, answer i
    blocks = max(1, min(len(urls) // 8, plan.actors * 8))  # every actor gets work
    items = [{"index": i, "url": url} for i, url in enumerate(urls)]
    fetched = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
        _FetchBatch,
        fn_constructor_kwargs={"plan": plan},
        batch_size=BATCH_ROWS,
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=plan.actors),
        num_cpus=1,
    )
    expected = 0
    for batch in fetched.iter_batches(batch_size=BATCH_ROWS, batch_format="pandas"):
        for row in batch.to_dict("records"):
            if row["fatal"]:
                raise DataSourceError(str(row["fatal"]))
            assert row["index"] == expected, "Ray Data returned the URLs out of order"
            expected += 1
            yield _fetched(row)
