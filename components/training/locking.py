"""Locked-image/text tuning (LiT, Zhai et al. 2022): freeze one tower, train the other.

A frozen tower keeps its weights (and its BatchNorm statistics: it stays in eval mode); only the
other tower, and the shared temperature, learn. Useful with a pretrained tower (model.init_from).
"""

from __future__ import annotations

from torch import nn

# OpenAI key prefixes of the text tower; everything under `visual.` is the image tower.
TEXT_TOWER = (
    "token_embedding.",
    "positional_embedding",
    "transformer.",
    "ln_final.",
    "text_projection",
    "text.",  # the MiniLM tower
)


def tower_of(name: str) -> str | None:
    if name.startswith("visual."):
        return "image"
    if name.startswith(TEXT_TOWER):
        return "text"
    return None  # logit_scale / logit_bias: shared


def lock_towers(model: nn.Module, image: bool, text: bool) -> list[str]:
    """Freeze the chosen towers in place; returns the names of the frozen parameters."""
    locked = {"image"} if image else set()
    locked |= {"text"} if text else set()
    frozen = []
    for name, param in model.named_parameters():
        if tower_of(name) in locked:
            param.requires_grad_(False)
            frozen.append(name)
    if image:
        model.visual.eval()  # BatchNorm statistics of a locked ResNet stay as they were
    return frozen
