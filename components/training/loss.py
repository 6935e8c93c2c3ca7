"""The contrastive losses, over the global batch of every worker: CLIP's symmetric softmax loss
and SigLIP's sigmoid loss.

CLIP: each rank scores its own B local rows against the B*R gathered columns (the "local loss" form:
logits [B, B*R] instead of [B*R, B*R]); the label of local row i is rank*B + i. With DDP's
gradient averaging, the gradient equals the single-process loss on the concatenated batch.

SigLIP (Zhai et al. 2023): every image-text pair is its own binary problem. logits = exp(t) *
image @ text.T + b; the matching pairs are positives (+1), every other pair a negative (-1);
loss = -sum(log sigmoid(label * logit)) / B. Across workers each rank scores its B rows against
the gathered texts, so again the gradient equals one process's on the concatenated batch. The
paper's initialisation: t = ln 10, b = -10.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F

SIGLIP_INIT_LOGIT_SCALE = math.log(10.0)
SIGLIP_INIT_LOGIT_BIAS = -10.0


class _AllGatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums every rank's gradient and returns this rank's slice."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # [B, E] -> [R*B, E]
        ctx.rank, ctx.batch = dist.get_rank(), x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.batch : (ctx.rank + 1) * ctx.batch]


def gather_features(features: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(features of every rank [R*B, E], offset of this rank's rows). Identity without a group."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return features, 0
    return _AllGatherWithGrad.apply(features), dist.get_rank() * features.shape[0]


def clip_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """Mean of image->text and text->image cross-entropy. Features are normalised, [B, E]."""
    all_images, offset = gather_features(image_features)  # [R*B, E]
    all_texts, _ = gather_features(text_features)  # [R*B, E]
    logits_per_image = logit_scale * image_features @ all_texts.T  # [B, R*B]
    logits_per_text = logit_scale * text_features @ all_images.T  # [B, R*B]
    labels = torch.arange(image_features.shape[0], device=image_features.device) + offset
    return (
        F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)
    ) / 2


def siglip_loss(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    logit_scale: torch.Tensor,
    logit_bias: torch.Tensor,
) -> torch.Tensor:
    """Normalised features [B, E]; logit_scale is exp(t)."""
    all_texts, offset = gather_features(text_features)  # [R*B, E]
    logits = logit_scale * image_features @ all_texts.T + logit_bias  # [B, R*B]
    labels = -torch.ones_like(logits)
    rows = torch.arange(image_features.shape[0], device=logits.device)
    labels[rows, rows + offset] = 1.0
    return -F.logsigmoid(labels * logits).sum() / image_features.shape[0]


def contrastive_loss(kind: str, model: torch.nn.Module):
    """The loss function (image features, text features, logit scale) -> loss for `kind`."""
    if kind == "clip":
        return clip_loss
    if kind == "siglip":
        if model.logit_bias is None:
            raise ValueError("the siglip loss needs a model with a logit_bias (init_logit_bias)")
        return lambda images, texts, scale: siglip_loss(images, texts, scale, model.logit_bias)
    raise ValueError(f"unknown loss {kind!r} (known: clip, siglip)")
