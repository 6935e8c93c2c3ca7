"""Which shards each worker reads in an epoch, and where a resumed worker starts: the order of
a streamed epoch as a pure function of (seed, epoch, the shards' sample counts). No data is read
here; the counts come from the manifest (docs/streaming.md).

The epoch's shard order is a seeded shuffle; each shard then goes to the worker with the fewest
samples so far, so every worker holds about the same number and all take the same number of
full local batches (the global contrastive batch is `world` equal parts).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class EpochPlan:
    ranks: tuple[tuple[str, ...], ...]  # per rank: its shards, in reading order
    counts: Mapping[str, int]  # samples per shard (after the quarantine)
    steps: int  # full global batches in the epoch
    local_batch: int  # samples per worker per step

    def samples_per_rank(self) -> int:
        return self.steps * self.local_batch

    def resume(self, rank: int, step: int) -> tuple[tuple[str, ...], int]:
        """(the shards rank still reads from `step` on, samples to skip in the first of them):
        the shards consumed whole are dropped by their counts, unread."""
        consumed = step * self.local_batch
        shards = self.ranks[rank]
        for i, shard in enumerate(shards):
            if consumed < self.counts[shard]:
                return shards[i:], consumed
            consumed -= self.counts[shard]
        return (), 0


def epoch_shard_order(shards: list[str], seed: int, epoch: int) -> list[str]:
    order = sorted(shards)
    random.Random(seed * 100_003 + epoch).shuffle(order)
    return order


def plan_epoch(
    counts: Mapping[str, int], seed: int, epoch: int, world: int, global_batch: int
) -> EpochPlan:
    """The epoch's plan for `world` workers; a shard with no sample left is not read."""
    if global_batch % world:
        raise ValueError(f"global batch {global_batch} does not split over {world} workers")
    local_batch = global_batch // world
    ranks: list[list[str]] = [[] for _ in range(world)]
    totals = [0] * world
    for shard in epoch_shard_order([s for s, n in counts.items() if n > 0], seed, epoch):
        rank = min(range(world), key=lambda r: (totals[r], r))  # the least loaded, then lowest
        ranks[rank].append(shard)
        totals[rank] += counts[shard]
    steps = min(totals) // local_batch
    if steps == 0:
        raise ValueError(
            f"{sum(counts.values())} training samples over {world} workers cannot fill one "
            f"batch of {global_batch}"
        )
    return EpochPlan(tuple(tuple(r) for r in ranks), dict(counts), steps, local_batch)
