"""Image preprocessing shared by training, evaluation, export and the served model.

Images arrive as uint8 RGB [B, 3, S, S] (decoded and resized by components.data.corpus.reader); the
model sees them normalised with the OpenAI CLIP statistics.
"""

from __future__ import annotations

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def normalize(images):  # torch.uint8 [B, 3, S, S] -> torch.float32 [B, 3, S, S]
    import torch

    mean = torch.tensor(CLIP_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=images.device).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std
