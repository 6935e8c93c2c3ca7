"""AdamW without weight decay on gains, biases and the temperature; cosine schedule with warmup."""

from __future__ import annotations

import math

import torch

_FUSED_DEVICES = ("cpu", "cuda")  # where torch's fused AdamW runs


def _decays(name: str, param: torch.Tensor) -> bool:
    # As open_clip: LayerNorm gains, biases, embeddings-as-vectors and logit_scale are not decayed.
    return param.ndim >= 2 and "logit_scale" not in name


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in params if _decays(n, p)], "weight_decay": weight_decay},
        {"params": [p for n, p in params if not _decays(n, p)], "weight_decay": 0.0},
    ]
    # The paper's betas and eps for ViT CLIP. Fused: one kernel over all tensors, the same
    # update (the default model's step 107.4 -> 104.1 ms on 2 CPU threads, bench/step_levers.py).
    fused = all(p.is_floating_point() and p.device.type in _FUSED_DEVICES for _, p in params)
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6, fused=fused or None)


def cosine_with_warmup(step: int, warmup_steps: int, total_steps: int) -> float:
    """Learning-rate multiplier: linear warmup to 1, then cosine decay to 0."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
