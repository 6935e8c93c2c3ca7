"""The build's fetcher of http(s) URLs: the previous corpus's answers first, Ray Data for the
rest (Ray started on first use only, so a build without URLs never starts it), and the log of
every answer, written as it comes, for the corpus's fetched.parquet."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path

from components.data.fetch.fetch_log import FetchLogWriter, FetchRecord, PreviousFetches
from components.data.fetch.http_client import Fetched
from components.data.fetch.ray_fetch import FetchPlan, fetch_urls
from components.data.ray_session import ray_session
from components.data.s3 import S3Store
from components.settings import S3Access

log = logging.getLogger(__name__)


class WebFetcher:
    def __init__(
        self,
        plan: FetchPlan,
        limits: dict[str, object],
        ray_address: str | None,
        ray_temp_dir: str,
        previous: Path | None = None,
        log_to: Path | None = None,
        scratch: Path | None = None,
    ) -> None:
        self.plan = plan
        self._store = S3Store(plan.s3 or S3Access())  # one client for every listing
        self.limits = limits  # as the card records them: a previous verdict needs the same
        self.ray = (ray_address, ray_temp_dir)
        self.previous_corpus = previous
        self.scratch = scratch  # where the previous corpus's answers are indexed
        self._previous: PreviousFetches | None = None
        self._stack = ExitStack()
        self._ray_started = False
        self.log = FetchLogWriter(log_to) if log_to is not None else None
        self.fetched = self.reused = 0

    def __enter__(self) -> WebFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.log is not None:
            self.log.close()
        if self._previous is not None:
            self._previous.close()
        self._stack.close()

    def _previous_answers(self, urls: list[str]) -> dict[str, Fetched]:
        if self.previous_corpus is None:
            return {}
        if self._previous is None:
            self._previous = PreviousFetches(
                self.previous_corpus, self.limits, self.scratch, self.plan.s3
            )
        return self._previous.answers(urls, self._current_etags)

    def _current_etags(self, urls: list[str]) -> dict[str, str]:
        """URL -> ETag now of the window's logged S3 objects (never a whole folder's)."""
        return self._store.etags_of(urls)

    def fetch(self, urls: list[str]) -> list[Fetched]:
        """One answer per URL, in order; a URL listed twice is fetched once."""
        known = self._previous_answers(urls)
        missing = list(dict.fromkeys(url for url in urls if url not in known))
        if missing:
            if not self._ray_started:
                self._stack.enter_context(ray_session(*self.ray))
                self._ray_started = True
            known |= dict(zip(missing, fetch_urls(missing, self.plan), strict=True))
        self.fetched += len(missing)
        self.reused += len(set(urls)) - len(missing)
        if missing:  # a window at a time: a long table shows its progress
            log.info("fetched %d URLs on Ray Data (%d so far, %d answered by the previous "
                     "corpus)", len(missing), self.fetched, self.reused)  # fmt: skip
        answers = [known[url] for url in urls]
        if self.log is not None:
            self.log.write(
                FetchRecord(url, answer, self._previous.logged(url) if reused else None)
                for url, answer in zip(urls, answers, strict=True)
                for reused in [answer.attempts == 0 and self._previous is not None]
            )
        return answers
