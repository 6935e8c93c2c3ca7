"""Training checkpoints: weights as safetensors, the rest as a weights_only-loadable torch file.

Nothing here ever unpickles arbitrary objects: torch.load runs with weights_only=True. Each
file is written under a temporary name and renamed, so a killed writer leaves no half file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from components.training.rng import capture_rng, restore_rng
from components.training.shard_plan import StreamPlan

WEIGHTS, STATE, HISTORY = "model.safetensors", "train_state.pt", "history.json"
POSITION = "position.json"  # the data position alone: read before the weights, without them


@dataclass(frozen=True)
class DataPosition:
    """Where in the seeded data stream the next step starts. The stream is a pure function of
    the seed, the global batch, the number of workers and the plan (shard counts, shuffle
    window, samples per epoch), so these must match on resume."""

    step: int
    epoch: int
    data_pass: int
    samples_seen: int
    global_batch_size: int
    seed: int
    world: int
    plan: str  # StreamPlan.identity()

    @classmethod
    def at(cls, step: int, plan: StreamPlan) -> DataPosition:
        data_pass = plan.locate(step)[0] if step < plan.total_steps else plan.epochs
        epoch = plan.epoch_of(step) if step < plan.total_steps else plan.epochs
        return cls(
            step,
            epoch,
            data_pass,
            step * plan.global_batch,
            plan.global_batch,
            plan.seed,
            plan.world,
            plan.identity(),
        )

    def check_compatible(self, now: DataPosition) -> None:
        fields = ("global_batch_size", "seed", "world", "plan")
        differ = [f for f in fields if getattr(self, f) != getattr(now, f)]
        if differ:
            said = ", ".join(f"{f} {getattr(self, f)} -> {getattr(now, f)}" for f in differ)
            raise ValueError(f"the checkpoint's data order does not fit this run: {said}")


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def save_checkpoint(
    directory: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    position: DataPosition,
    history: list[dict[str, float]],
) -> None:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    _atomic_write(directory / WEIGHTS, lambda p: save_file(weights, str(p)))
    state = {
        "step": position.step,
        "position": asdict(position),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": capture_rng(),
    }
    _atomic_write(directory / STATE, lambda p: torch.save(state, p))
    _atomic_write(directory / HISTORY, lambda p: p.write_text(json.dumps(history)))
    _atomic_write(directory / POSITION, lambda p: p.write_text(json.dumps(asdict(position))))


def checkpointed_step(directory: Path) -> int:
    """The step a checkpoint continues from, read without restoring anything."""
    if (directory / POSITION).is_file():  # a few bytes, not the optimiser's state
        return int(json.loads((directory / POSITION).read_text())["step"])
    state = torch.load(directory / STATE, weights_only=True, map_location="cpu")
    return int(state["position"]["step"])


def load_checkpoint(
    directory: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> tuple[DataPosition, list[dict[str, Any]]]:
    """Restore in place; returns (the data position to continue from, the metric history)."""
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(directory / WEIGHTS)), strict=True)
    state = torch.load(directory / STATE, weights_only=True, map_location="cpu")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    restore_rng(state["rng"])
    try:
        position = DataPosition(**state["position"])
    except TypeError as err:  # written before the streamed data order (issue 14)
        raise ValueError(
            f"the checkpoint in {directory} records its data position in an older format: "
            "start a new run (another --run-name)"
        ) from err
    return position, json.loads((directory / HISTORY).read_text())
