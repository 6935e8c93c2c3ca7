"""Where the user's windows are checked: the build's threads, or Ray tasks on the cluster.

Checking a sample (the full decode of its image, sha256, captions) is most of the build
process's work: with 224 px JPEGs, 2.06 ms of its CPU a sample on threads, 0.72 ms with the
checks on Ray (bench/build_checks_on_ray.py). From `data.check_on_ray_from_samples` samples on,
each window is checked by a Ray task (one CPU, anywhere in the cluster) while the build reads
the next ones, and the verdicts come back in window order, so the corpus is the same bytes
however many nodes checked it. The build keeps what must see the whole stream in order
(duplicates, splits, writing the shards); the windows in flight are bounded in number and
bytes, so its memory does not grow with the cluster either.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

from components.checks.limits import SampleLimits
from components.data.ray_session import ray_session, retried_task
from components.data.sources.user_admission import Verdict, check_window
from components.data.sources.user_records import UserCandidate

BYTES_IN_FLIGHT = 1 << 30  # image bytes of the windows sent to Ray and not yet answered
WINDOWS_PER_CPU = 2  # windows in flight per cluster CPU: one checked, one queued

Window = list  # UserCandidate | Rejected items, in source order


def _check_task(candidates: list[UserCandidate], limits: SampleLimits) -> list[Verdict]:
    return check_window(candidates, limits, None)


class WindowChecks:
    """`checked(windows)` yields (window, one verdict per candidate) in window order."""

    def __init__(
        self,
        limits: SampleLimits,
        pool: ThreadPoolExecutor | None,
        on_ray_from: int | None,
        ray: tuple[str | None, str],
    ) -> None:
        self.limits, self.pool = limits, pool
        self.on_ray_from, self.ray = on_ray_from, ray
        self.samples = 0  # candidates seen so far, every source
        self.windows_on_ray = 0
        self._stack = ExitStack()
        self._most_in_flight = 0

    def __enter__(self) -> WindowChecks:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _to_ray(self, n_candidates: int) -> bool:
        return self.on_ray_from is not None and self.samples + n_candidates > self.on_ray_from

    def _start_ray(self) -> None:
        if self._most_in_flight:
            return
        import ray

        self._stack.enter_context(ray_session(*self.ray))
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self._most_in_flight = max(2, WINDOWS_PER_CPU * cpus)

    def checked(self, windows: Iterable[Window]) -> Iterator[tuple[Window, list[Verdict]]]:
        pending: deque[tuple[Window, Any, int]] = deque()  # window, Ray reference, bytes
        held = 0
        for window in windows:
            candidates = [item for item in window if isinstance(item, UserCandidate)]
            if not self._to_ray(len(candidates)):
                self.samples += len(candidates)
                yield window, check_window(candidates, self.limits, self.pool)
                continue
            self._start_ray()
            size = sum(len(c.data) for c in candidates)
            while pending and (
                len(pending) >= self._most_in_flight or held + size > BYTES_IN_FLIGHT
            ):
                done, reference, sent = pending.popleft()
                held -= sent
                yield done, _answer(reference)
            pending.append(
                (window, retried_task(_check_task).remote(candidates, self.limits), size)
            )
            held += size
            self.samples += len(candidates)
            self.windows_on_ray += 1
        while pending:
            done, reference, _ = pending.popleft()
            yield done, _answer(reference)


def _answer(reference: Any) -> list[Verdict]:
    import ray

    return ray.get(reference)
