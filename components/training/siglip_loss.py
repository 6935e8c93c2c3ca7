"""The SigLIP sigmoid loss (Zhai et al. 2023): every image-text pair is its own binary problem.

logits = exp(t) * image @ text.T + b; the matching pairs are positives (+1), every other pair a
negative (-1); loss = -sum(log sigmoid(label * logit)) / B. Across workers each rank scores its B
rows against the gathered texts; with DDP's averaging the gradient equals one process's on the
concatenated batch. The paper's initialisation: t = ln 10, b = -10.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from components.training.loss import gather_features

SIGLIP_INIT_LOGIT_SCALE = math.log(10.0)
SIGLIP_INIT_LOGIT_BIAS = -10.0


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
