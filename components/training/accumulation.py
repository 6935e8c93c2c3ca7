"""Gradient accumulation that keeps the full contrastive batch.

Splitting a contrastive batch into micro-batches would shrink the set of negatives. Instead: first
compute every micro-batch's features without gradients (a cache), then re-forward each
micro-batch with gradients, put its fresh features in place of its cached rows, and back-propagate
the loss of the whole batch. The gradients sum to those of one big batch, at the memory of one
micro-batch (plus the feature cache).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import torch

Forward = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def accumulate_gradients(
    forward: Forward,
    loss_fn: Loss,
    images: torch.Tensor,
    tokens: torch.Tensor,
    micro_batches: int,
    no_sync: Callable[[], object] | None = None,
) -> torch.Tensor:
    """Back-propagate the loss of (images [B, ...], tokens [B, L]) in `micro_batches` pieces.

    `no_sync` (DDP's) suppresses the gradient all-reduce for all but the last piece.
    Returns the loss of the whole batch (detached).
    """
    image_chunks, token_chunks = images.chunk(micro_batches), tokens.chunk(micro_batches)
    with torch.no_grad():
        cached = [forward(i, t) for i, t in zip(image_chunks, token_chunks, strict=True)]
    cached_images = [c[0] for c in cached]  # [B_j, E] each
    cached_texts = [c[1] for c in cached]
    loss = None
    for j, (image_chunk, token_chunk) in enumerate(zip(image_chunks, token_chunks, strict=True)):
        last = j == len(image_chunks) - 1
        sync = nullcontext() if last or no_sync is None else no_sync()
        with sync:
            image_features, text_features, logit_scale = forward(image_chunk, token_chunk)
            all_images = torch.cat([*cached_images[:j], image_features, *cached_images[j + 1 :]])
            all_texts = torch.cat([*cached_texts[:j], text_features, *cached_texts[j + 1 :]])
            # Every piece computes the full-batch loss, so the temperature's own gradient would
            # be counted once per piece: it flows from the last piece only.
            scale = logit_scale if last else logit_scale.detach()
            loss = loss_fn(all_images, all_texts, scale)  # [B, E] x [B, E]
            loss.backward()
    return loss.detach()
