"""The streamed run's order: a pure function of (seed, pass, world, shard counts); equal local
batches; every sample once per pass; and a resume that sees exactly the rest of the run while
re-reading at most one shuffle window (no Ray here: the rows come from a fake reader)."""

from __future__ import annotations

import numpy as np
import pytest

from components.training.shard_plan import StreamPlan, plan_epoch
from components.training.shuffle_window import local_batches

# 23 shards of uneven sizes (a quarantine leaves holes; one shard lost every sample)
COUNTS = {f"train/{i:05d}.tar": 64 - (i * 7) % 19 for i in range(23)} | {"train/00099.tar": 0}
TOTAL = sum(COUNTS.values())


def _sample(shard: str, index: int) -> int:
    return int(shard[6:11]) * 1000 + index  # a unique id per (shard, position)


def _rows(pieces, block: int = 7):
    """What the Ray reader yields for `pieces`: their samples in order, in small blocks."""
    ids = [_sample(p.shard, p.skip + k) for p in pieces for k in range(p.take)]
    for start in range(0, len(ids), block):
        yield {"id": np.array(ids[start : start + block])}


def _run(plan: StreamPlan, rank: int, start: int) -> list[tuple[int, list[int]]]:
    rows = _rows(plan.pieces(rank, start))
    return [(step, b["id"].tolist()) for step, b, _ in local_batches(plan, rank, start, rows)]


def test_the_plan_is_a_pure_function_of_seed_and_pass() -> None:
    plan = plan_epoch(COUNTS, seed=3, epoch=0, world=4, global_batch=64)
    assert plan == plan_epoch(dict(reversed(COUNTS.items())), 3, 0, 4, 64)
    assert plan.ranks != plan_epoch(COUNTS, 3, 1, 4, 64).ranks  # a new order every pass
    assert plan.ranks != plan_epoch(COUNTS, 4, 0, 4, 64).ranks


@pytest.mark.parametrize("world", [1, 2, 3, 4, 8])
def test_equal_contiguous_shares_every_sample_at_most_once(world: int) -> None:
    plan = plan_epoch(COUNTS, seed=0, epoch=2, world=world, global_batch=48)
    assert plan.steps == TOTAL // 48  # only the last partial global batch is dropped
    read = [(shard, first + k) for rank in plan.ranks for shard, first, n in rank for k in range(n)]
    assert len(read) == len(set(read)) == plan.steps * 48
    for rank in plan.ranks:
        assert sum(n for _, _, n in rank) == plan.samples_per_rank()
        # a rank reads a run of whole shards, with at most a part of one at either end
        assert all(first == 0 for _, first, _ in rank[1:])
        assert all(first + n == COUNTS[shard] for shard, first, n in rank[:-1])


@pytest.mark.parametrize("samples_per_epoch", [None, 500, 2000])
@pytest.mark.parametrize("world", [1, 3])
def test_a_resume_sees_exactly_the_rest_of_the_run(samples_per_epoch, world: int) -> None:
    plan = StreamPlan(COUNTS, 5, world, 24 * world, 2, samples_per_epoch, window=60)
    assert plan.window == 48  # whole local batches
    for rank in range(world):
        whole = _run(plan, rank, 0)
        assert [step for step, _ in whole] == list(range(plan.total_steps))
        assert all(len(ids) == plan.local_batch for _, ids in whole)
        for start in (1, 2, 5, plan.total_steps // 2, plan.total_steps - 1):
            assert _run(plan, rank, start) == whole[start:]
            # re-read: at most one window before the resume point
            reread = sum(p.take for p in plan.pieces(rank, start))
            left = (plan.total_steps - start) * plan.local_batch
            assert left <= reread < left + plan.window + plan.window


def test_each_pass_holds_every_sample_once_and_the_window_mixes() -> None:
    plan = StreamPlan(COUNTS, 1, 2, 32, epochs=2, window=256)
    batches = [_run(plan, rank, 0) for rank in range(2)]
    per_pass = plan.plan(0).steps
    first = [i for rank in batches for _, ids in rank[:per_pass] for i in ids]
    assert len(first) == len(set(first)) == per_pass * 32
    # shuffled within a window: not the shards' own order
    assert batches[0][0][1] != sorted(batches[0][0][1])
    # the second pass is another order
    assert batches[0][per_pass][1] != batches[0][0][1]


def test_samples_per_epoch_sets_the_schedule() -> None:
    plan = StreamPlan(COUNTS, 0, 2, 32, epochs=3, samples_per_epoch=320)
    assert plan.total_steps == 30 and plan.epoch_of(9) == 0 and plan.epoch_of(10) == 1
    full = StreamPlan(COUNTS, 0, 2, 32, epochs=3)
    assert full.total_steps == 3 * (TOTAL // 32) and full.epoch_of(TOTAL // 32) == 1


def test_too_few_samples_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="cannot fill one batch of 4096"):
        plan_epoch(COUNTS, seed=0, epoch=0, world=2, global_batch=4096)
    with pytest.raises(ValueError, match="less than one global batch"):
        StreamPlan(COUNTS, 0, 2, 64, epochs=1, samples_per_epoch=10)
