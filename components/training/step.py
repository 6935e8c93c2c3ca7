"""One optimisation step, shared by the Ray workers, the benchmarks and the tests.

forward (bf16 autocast when asked) -> the contrastive loss in fp32 over the global batch ->
backward (optionally accumulated in micro-batches) -> clip -> AdamW -> schedule -> clamp the
temperature.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import nullcontext
from typing import Literal

import torch

from components.training.accumulation import accumulate_gradients

Precision = Literal["fp32", "bf16"]


def resolve_precision(precision: str, on_gpu: bool) -> Precision:
    """`auto` means bf16 autocast on a GPU and fp32 on CPU."""
    if precision == "auto":
        return "bf16" if on_gpu else "fp32"
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"unknown precision {precision!r} (auto, fp32, bf16)")
    return precision  # type: ignore[return-value]


def configure_determinism(deterministic: bool, seed: int) -> None:
    """Seed torch; in deterministic mode also demand deterministic kernels everywhere."""
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS reads this when its handle is made: before the first CUDA matmul
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"  # the only other valid value: :16:8
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest


class TrainStep:
    """Call with a normalised image batch [B, 3, S, S] and tokens [B, L]; returns the loss."""

    def __init__(
        self,
        model: torch.nn.Module,  # the raw CLIP: its temperature is clamped after each step
        forward: torch.nn.Module,  # what runs the batch: the model, DDP-wrapped and/or compiled
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        loss_fn,
        *,
        precision: Precision = "fp32",
        grad_clip_norm: float = 1.0,
        accum_micro_batches: int = 1,
        channels_last: bool = False,
        text_cache: Callable[[torch.Tensor], torch.Tensor] | None = None,  # a locked text tower's
    ) -> None:
        self.model, self.forward_module = model, forward
        self.text_cache = text_cache
        self.optimizer, self.scheduler, self.loss_fn = optimizer, scheduler, loss_fn
        self.precision, self.grad_clip_norm = precision, grad_clip_norm
        self.accum_micro_batches, self.channels_last = accum_micro_batches, channels_last
        self.no_sync = getattr(forward, "no_sync", None)  # DDP: one all-reduce per step

    def _autocast(self, device: torch.device):
        if self.precision == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return nullcontext()

    def _forward(self, images: torch.Tensor, tokens: torch.Tensor):
        with self._autocast(images.device):
            known = self.text_cache(tokens) if self.text_cache is not None else None
            image_features, text_features, logit_scale = self.forward_module(images, tokens, known)
        # the similarity logits and the softmax stay in fp32 whatever the tower's precision
        return image_features.float(), text_features.float(), logit_scale.float()

    def __call__(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        self.optimizer.zero_grad(set_to_none=True)
        if self.accum_micro_batches > 1:
            loss = accumulate_gradients(
                self._forward, self.loss_fn, images, tokens, self.accum_micro_batches, self.no_sync
            )
        else:
            loss = self.loss_fn(*self._forward(images, tokens))
            loss.backward()
            loss = loss.detach()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.model.clamp_logit_scale()
        return loss
