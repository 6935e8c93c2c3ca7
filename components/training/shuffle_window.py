"""A worker's local batches from its ordered sample stream: each window of the stream (the
bounded in-memory shuffle buffer, `StreamPlan.window` samples) is permuted by a generator seeded
with (seed, pass, rank, window start), then cut into local batches. The permutation depends on
nothing but those four numbers, so a resumed worker that re-reads the window holding its next
step gets the same batches an uninterrupted one did (docs/streaming.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from components.training.shard_plan import StreamPlan

Batch = dict[str, np.ndarray]  # column -> rows first


def window_order(seed: int, pass_index: int, rank: int, start: int, size: int) -> np.ndarray:
    entropy = [seed, pass_index, rank, start]
    return np.random.Generator(np.random.PCG64(entropy)).permutation(size)


class _Rows:
    """Takes exactly n rows at a time from a stream of column batches, keeping the rest; counts
    the seconds spent waiting on the stream."""

    def __init__(self, batches: Iterator[Batch]) -> None:
        self._batches = batches
        self._held: list[Batch] = []
        self._held_rows = 0
        self.waited_s = 0.0

    def take(self, n: int) -> Batch:
        while self._held_rows < n:
            started = time.perf_counter()
            batch = next(self._batches, None)
            self.waited_s += time.perf_counter() - started
            if batch is None:
                raise RuntimeError(
                    f"the data stream ended {n - self._held_rows} samples early: a shard holds "
                    "fewer samples than the manifest lists"
                )
            rows = len(next(iter(batch.values())))
            if rows:
                self._held.append(batch)
                self._held_rows += rows
        if len(self._held) == 1 and self._held_rows == n:  # a whole window: no copy
            (joined,) = self._held
            self._held, self._held_rows = [], 0
            return joined
        joined = {k: np.concatenate([b[k] for b in self._held]) for k in self._held[0]}
        rest = {k: v[n:] for k, v in joined.items()}
        self._held, self._held_rows = (
            ([rest], self._held_rows - n) if self._held_rows > n else ([], 0)
        )
        return {k: v[:n] for k, v in joined.items()}


def local_batches(
    plan: StreamPlan, rank: int, start_step: int, batches: Iterator[Batch]
) -> Iterator[tuple[int, Batch, float]]:
    """(global step, this rank's local batch, seconds waited on data for it) from `start_step`
    to the end of the run. `batches`: the rows of `plan.window_pieces(rank, start_step)`,
    in order."""
    if start_step >= plan.total_steps:
        return
    rows = _Rows(batches)
    step = start_step
    pass_index, begin, drop = plan.window_start(step)
    local = plan.local_batch
    while True:
        for size in plan.windows(pass_index, begin):
            waited = rows.waited_s
            order = window_order(plan.seed, pass_index, rank, begin, size)
            # one permuted window alive at a time: the previous one was dropped with its last
            # batch, which was a copy (a view would keep the whole window alive meanwhile)
            window = {k: v[order] for k, v in rows.take(size).items()}
            wait = rows.waited_s - waited
            for offset in range(drop, size, local):
                batch = {k: v[offset : offset + local].copy() for k, v in window.items()}
                if offset + local >= size:
                    window = {}
                yield step, batch, wait
                wait = 0.0
                step += 1
                if step == plan.total_steps:
                    return
            begin, drop = begin + size, 0
        pass_index, begin = pass_index + 1, 0
