"""Start from trained weights: this project's model.safetensors or an OpenAI-style state dict."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from components.errors import UserError


class InitWeightsError(UserError):
    """The initial checkpoint is missing or does not fit the architecture."""


def load_initial_weights(model: nn.Module, path: str | Path) -> None:
    """Load strictly: every tensor of the architecture, nothing else (OpenAI key names)."""
    import torch
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise InitWeightsError(f"model.init_from: {path} does not exist")
    if path.suffix == ".safetensors":
        state = load_file(str(path))
    else:  # a plain state dict (OpenAI's non-JIT format); never arbitrary pickles
        state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("input_resolution", "context_length", "vocab_size"):  # OpenAI metadata entries
        state.pop(key, None)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise InitWeightsError(f"model.init_from: {path} does not fit the model: {err}") from None
