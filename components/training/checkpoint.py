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

WEIGHTS, STATE, HISTORY = "model.safetensors", "train_state.pt", "history.json"


@dataclass(frozen=True)
class DataPosition:
    """Where in the seeded data order the next step starts (the data order is a pure function
    of seed, dataset size and global batch, so these three must match on resume)."""

    step: int
    epoch: int
    batch_in_epoch: int
    samples_seen: int
    dataset_size: int
    global_batch_size: int
    seed: int

    @classmethod
    def at(cls, step: int, dataset_size: int, global_batch_size: int, seed: int) -> DataPosition:
        epoch, batch = divmod(step, dataset_size // global_batch_size)
        samples = step * global_batch_size
        return cls(step, epoch, batch, samples, dataset_size, global_batch_size, seed)

    def check_compatible(self, dataset_size: int, global_batch_size: int, seed: int) -> None:
        now = {"dataset_size": dataset_size, "global_batch_size": global_batch_size, "seed": seed}
        differ = {k: (getattr(self, k), v) for k, v in now.items() if getattr(self, k) != v}
        if differ:
            said = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in differ.items())
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
    return DataPosition(**state["position"]), json.loads((directory / HISTORY).read_text())
