"""Which samples each worker reads in a data pass, and where a resumed worker starts: the
order of a streamed run as a pure function of (seed, pass, world, the shards' sample counts).
No data is read here; the counts come from the manifest (docs/streaming.md).

A pass orders the shards by a seeded shuffle and lays their samples end to end; rank r takes
the r-th of `world` equal contiguous ranges of that stream, so every worker holds the same
number of samples and all take the same number of full local batches (the global contrastive
batch is `world` equal parts). A worker reads only the shards its range overlaps: at most one
shard at each range boundary is shared with a neighbour, each reading only its own part.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

Segment = tuple[str, int, int]  # (shard, first sample, samples), counted after the quarantine


@dataclass(frozen=True)
class EpochPlan:
    ranks: tuple[tuple[Segment, ...], ...]  # per rank: what it reads, in order
    steps: int  # full global batches in the pass
    local_batch: int  # samples per worker per step

    def samples_per_rank(self) -> int:
        return self.steps * self.local_batch


def epoch_shard_order(shards: list[str], seed: int, epoch: int) -> list[str]:
    order = sorted(shards)
    random.Random(seed * 100_003 + epoch).shuffle(order)
    return order


def plan_epoch(
    counts: Mapping[str, int], seed: int, epoch: int, world: int, global_batch: int
) -> EpochPlan:
    """The pass's plan for `world` workers; a shard with no sample left is not read."""
    if global_batch % world:
        raise ValueError(f"global batch {global_batch} does not split over {world} workers")
    local_batch = global_batch // world
    steps = sum(counts.values()) // global_batch
    if steps == 0:
        raise ValueError(
            f"{sum(counts.values())} training samples over {world} workers cannot fill one "
            f"batch of {global_batch}"
        )
    share = steps * local_batch
    ranks: list[list[Segment]] = [[] for _ in range(world)]
    offset = 0  # where the shard starts in the pass's stream
    for shard in epoch_shard_order([s for s, n in counts.items() if n > 0], seed, epoch):
        count = counts[shard]
        for rank in range(offset // share, min(world, (offset + count - 1) // share + 1)):
            lo, hi = max(offset, rank * share), min(offset + count, (rank + 1) * share)
            ranks[rank].append((shard, lo - offset, hi - lo))
        offset += count
    return EpochPlan(tuple(tuple(r) for r in ranks), steps, local_batch)


@dataclass(frozen=True)
class Piece:
    """What one read task of a worker reads: `take` samples of `shard` after skipping `skip`
    (counted after the quarantine), for data pass `pass_index`."""

    pass_index: int
    shard: str
    skip: int
    take: int


class StreamPlan:
    """The whole run's data order for `world` workers: data passes (a pass reads every shard
    once, in its own seeded order), cut into epochs of `samples_per_epoch` (None: an epoch is a
    pass), and each rank's pass cut into shuffle windows of `window` samples (a multiple of the
    local batch; the bounded in-memory buffer). A global step maps to (pass, step in the pass),
    and a resumed worker re-reads at most one window."""

    def __init__(
        self,
        counts: Mapping[str, int],
        seed: int,
        world: int,
        global_batch: int,
        epochs: int,
        samples_per_epoch: int | None = None,
        window: int | None = None,
    ) -> None:
        self.counts, self.seed, self.world = dict(counts), seed, world
        self.global_batch, self.epochs = global_batch, epochs
        self._plans: dict[int, EpochPlan] = {}
        first = self.plan(0)
        self.local_batch = first.local_batch
        batches = max(1, (window or first.samples_per_rank()) // self.local_batch)
        self.window = batches * self.local_batch
        if samples_per_epoch is None:
            self.steps_per_epoch = None
            self.total_steps = sum(self.plan(p).steps for p in range(epochs))
        else:
            self.steps_per_epoch = samples_per_epoch // global_batch
            if self.steps_per_epoch == 0:
                raise ValueError(
                    f"samples_per_epoch {samples_per_epoch} is less than one global batch "
                    f"({global_batch})"
                )
            self.total_steps = epochs * self.steps_per_epoch

    def identity(self) -> str:
        """What the order depends on besides seed, world and batch: a resume must match it."""
        import hashlib
        import json

        what = [sorted(self.counts.items()), self.window, self.steps_per_epoch]
        return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]

    def plan(self, pass_index: int) -> EpochPlan:
        if pass_index not in self._plans:
            self._plans[pass_index] = plan_epoch(
                self.counts, self.seed, pass_index, self.world, self.global_batch
            )
        return self._plans[pass_index]

    def locate(self, step: int) -> tuple[int, int]:
        """(the data pass, the step within it) of a global step."""
        pass_index = 0
        while step >= self.plan(pass_index).steps:
            step -= self.plan(pass_index).steps
            pass_index += 1
        return pass_index, step

    def epoch_of(self, step: int) -> int:
        if self.steps_per_epoch is None:
            return self.locate(step)[0]
        return step // self.steps_per_epoch

    def pass_rows(self, pass_index: int) -> int:
        """Samples each rank takes from the pass (whole local batches; the rest is dropped)."""
        return self.plan(pass_index).samples_per_rank()

    def window_start(self, step: int) -> tuple[int, int, int]:
        """(pass, the first in-pass row of the window holding `step`'s batch, rows of it that
        `step` has already consumed)."""
        pass_index, in_pass = self.locate(step)
        row = in_pass * self.local_batch
        start = row // self.window * self.window
        return pass_index, start, row - start

    def window_pieces(self, rank: int, start_step: int) -> list[list[Piece]]:
        """What `rank` reads to go from `start_step` to the end of the run, window by window:
        from the start of the window holding `start_step` (whole shards before it are skipped
        by count, unread), pass after pass, up to the end of the window holding the last
        step."""
        if start_step >= self.total_steps:
            return []
        pass_index, begin, _ = self.window_start(start_step)
        last_pass, last_begin, _ = self.window_start(self.total_steps - 1)
        out = []
        while (pass_index, begin) <= (last_pass, last_begin):
            size = min(self.window, self.pass_rows(pass_index) - begin)
            out.append(
                _pieces_between(self.plan(pass_index), rank, pass_index, begin, begin + size)
            )
            begin += size
            if begin >= self.pass_rows(pass_index):
                pass_index, begin = pass_index + 1, 0
        return out

    def pieces(self, rank: int, start_step: int) -> list[Piece]:
        return [piece for window in self.window_pieces(rank, start_step) for piece in window]

    def windows(self, pass_index: int, begin: int) -> list[int]:
        """The sizes of the pass's windows from in-pass row `begin` (a window start) on."""
        total = self.pass_rows(pass_index)
        return [min(self.window, total - start) for start in range(begin, total, self.window)]


def _pieces_between(plan: EpochPlan, rank: int, pass_index: int, begin: int, end: int):
    """Rank's samples [begin, end) of a pass, as per-shard pieces."""
    pieces, offset = [], 0
    for shard, first, count in plan.ranks[rank]:
        lo, hi = max(begin, offset), min(end, offset + count)
        if lo < hi:
            pieces.append(Piece(pass_index, shard, first + lo - offset, hi - lo))
        offset += count
        if offset >= end:
            break
    return pieces
