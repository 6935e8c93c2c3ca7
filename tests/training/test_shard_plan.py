"""The streamed epoch's plan: a pure function of (seed, epoch, shard counts); balanced, equal
local batches, and a resume point that skips exactly what was consumed."""

from __future__ import annotations

import pytest

from components.training.shard_plan import plan_epoch

# 23 shards of uneven sizes (a quarantine leaves holes; one shard lost every sample)
COUNTS = {f"train/{i:05d}.tar": 64 - (i * 7) % 19 for i in range(23)} | {"train/00099.tar": 0}
SAMPLES = {shard: [f"{shard}#{k}" for k in range(n)] for shard, n in COUNTS.items()}


def _stream(shards, skip: int = 0) -> list[str]:
    samples = [s for shard in shards for s in SAMPLES[shard]]
    return samples[skip:]


def test_the_plan_is_a_pure_function_of_seed_and_epoch() -> None:
    plan = plan_epoch(COUNTS, seed=3, epoch=0, world=4, global_batch=64)
    assert plan == plan_epoch(dict(reversed(COUNTS.items())), 3, 0, 4, 64)
    assert plan.ranks != plan_epoch(COUNTS, 3, 1, 4, 64).ranks  # a new order every epoch
    assert plan.ranks != plan_epoch(COUNTS, 4, 0, 4, 64).ranks


@pytest.mark.parametrize("world", [1, 2, 3, 4, 8])
def test_every_shard_once_and_equal_local_batches(world: int) -> None:
    plan = plan_epoch(COUNTS, seed=0, epoch=2, world=world, global_batch=48)
    assigned = [s for rank in plan.ranks for s in rank]
    assert sorted(assigned) == sorted(s for s, n in COUNTS.items() if n > 0)
    totals = [sum(COUNTS[s] for s in rank) for rank in plan.ranks]
    assert max(totals) - min(totals) <= max(COUNTS.values())  # balanced to a shard
    assert plan.local_batch * world == 48
    assert all(t >= plan.samples_per_rank() for t in totals)
    assert plan.steps == min(totals) // plan.local_batch


@pytest.mark.parametrize("step", [0, 1, 5, 13, 17])
def test_a_resume_sees_exactly_the_rest_of_the_epoch(step: int) -> None:
    plan = plan_epoch(COUNTS, seed=1, epoch=0, world=3, global_batch=48)
    for rank in range(3):
        whole = _stream(plan.ranks[rank])[: plan.samples_per_rank()]
        shards, skip = plan.resume(rank, step)
        rest = _stream(shards, skip)[: plan.samples_per_rank() - step * plan.local_batch]
        assert rest == whole[step * plan.local_batch :]
        # the shards consumed whole are not among those read again
        assert len(shards) <= len(plan.ranks[rank])


def test_too_few_samples_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="cannot fill one batch of 4096"):
        plan_epoch(COUNTS, seed=0, epoch=0, world=2, global_batch=4096)
