"""Checkpoints restore the exact state: weights, optimiser, schedule, RNGs, data position."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from components.model.clip import create_model
from components.training.checkpoint import (
    STATE,
    DataPosition,
    checkpointed_step,
    load_checkpoint,
    save_checkpoint,
)
from components.training.optim import cosine_with_warmup, make_optimizer
from components.training.rng import capture_rng, restore_rng
from components.training.shard_plan import StreamPlan


def _draws() -> tuple[list[float], float, list[float]]:
    return torch.rand(3).tolist(), random.random(), np.random.rand(3).tolist()


def test_rng_states_round_trip():
    random.gauss(0, 1)  # leaves a cached gaussian in Python's state
    state = capture_rng()
    want = _draws()
    _draws()
    restore_rng(state)
    assert _draws() == want


def test_data_position_mid_epoch():
    plan = StreamPlan({"train/0.tar": 60, "train/1.tar": 40}, seed=0, world=1, global_batch=16,
                      epochs=3)  # fmt: skip
    pos = DataPosition.at(9, plan)
    # 100 // 16 = 6 steps per pass: step 9 is the fourth batch of pass (and epoch) 1
    assert (pos.epoch, pos.data_pass, pos.samples_seen, pos.world) == (1, 1, 144, 1)
    pos.check_compatible(DataPosition.at(9, plan))
    other = StreamPlan(plan.counts, seed=0, world=1, global_batch=32, epochs=3)
    with pytest.raises(ValueError, match="global_batch_size 16 -> 32"):
        pos.check_compatible(DataPosition.at(9, other))
    wider = StreamPlan(plan.counts, seed=0, world=2, global_batch=16, epochs=3)
    with pytest.raises(ValueError, match="world 1 -> 2"):
        pos.check_compatible(DataPosition.at(9, wider))


PLAN = StreamPlan({"train/0.tar": 100}, seed=0, world=1, global_batch=16, epochs=2)


def _parts(seed: int):
    torch.manual_seed(seed)
    model = create_model("clip-tiny")
    optimizer = make_optimizer(model, 1e-3, 0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: cosine_with_warmup(s, 2, 9))
    return model, optimizer, scheduler


def test_checkpoint_restores_training_exactly(tmp_path):
    model, optimizer, scheduler = _parts(0)
    for _ in range(2):  # populate AdamW's moments and move the schedule
        loss = sum(p.square().sum() for p in model.parameters())
        loss.backward()
        optimizer.step()
        scheduler.step()
    position = DataPosition.at(2, PLAN)
    save_checkpoint(tmp_path, model, optimizer, scheduler, position, [{"step": 1}, {"step": 2}])
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic writes left no temporary file
    assert checkpointed_step(tmp_path) == 2  # read from position.json, without the state
    want = _draws()

    fresh, fresh_opt, fresh_sched = _parts(1)
    got_position, history = load_checkpoint(tmp_path, fresh, fresh_opt, fresh_sched)
    assert got_position == position and history == [{"step": 1}, {"step": 2}]
    assert _draws() == want  # the RNGs continue where the checkpoint left them
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert fresh_sched.get_last_lr() == scheduler.get_last_lr()
    a_state, b_state = optimizer.state_dict()["state"], fresh_opt.state_dict()["state"]
    assert a_state.keys() == b_state.keys()
    for key in a_state:
        assert torch.equal(a_state[key]["exp_avg_sq"], b_state[key]["exp_avg_sq"])


def test_training_state_refuses_pickled_objects(tmp_path):
    """weights_only=True: a state file carrying an arbitrary object is refused, not executed."""

    class Sneaky:
        def __reduce__(self):
            return (print, ("unpickled!",))

    model, optimizer, scheduler = _parts(0)
    save_checkpoint(tmp_path, model, optimizer, scheduler, DataPosition.at(0, PLAN), [])
    torch.save({"step": 1, "payload": Sneaky()}, tmp_path / STATE)
    with pytest.raises(Exception, match="Weights only load failed"):
        load_checkpoint(tmp_path, *_parts(1))
