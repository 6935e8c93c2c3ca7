"""Training checkpoints: weights as safetensors, the rest as a weights_only-loadable torch file.

Nothing here ever unpickles arbitrary objects: torch.load runs with weights_only=True.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

WEIGHTS, STATE, HISTORY = "model.safetensors", "train_state.pt", "history.json"


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def save_checkpoint(
    directory: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    history: list[dict[str, float]],
) -> None:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    _atomic_write(directory / WEIGHTS, lambda p: save_file(weights, str(p)))
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
    }
    _atomic_write(directory / STATE, lambda p: torch.save(state, p))
    _atomic_write(directory / HISTORY, lambda p: p.write_text(json.dumps(history)))


def load_checkpoint(
    directory: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> tuple[int, list[dict[str, Any]]]:
    """Restore in place; returns (the step to continue from, the metric history so far)."""
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(directory / WEIGHTS)), strict=True)
    state = torch.load(directory / STATE, weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"]), json.loads((directory / HISTORY).read_text())
