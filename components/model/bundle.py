"""A trained model on disk: weights (safetensors), architecture and tokenizer as JSON.

The layout every later stage reads (evaluation, ONNX export, the registered model):
    model.safetensors   state dict with OpenAI CLIP key names
    config.json         the CLIPConfig
    tokenizer.json      the tokenizer's vocabulary
"""

from __future__ import annotations

import json
from pathlib import Path

from components.artifacts import MODEL
from components.model.config import CLIPConfig
from components.model.tokenizers import Tokenizer, load_tokenizer, save_tokenizer

WEIGHTS, CONFIG, TOKENIZER = MODEL.files  # model.safetensors, config.json, tokenizer.json


def save_bundle(model, tokenizer: Tokenizer, out_dir: Path) -> Path:
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / WEIGHTS))
    (out_dir / CONFIG).write_text(model.config.model_dump_json(indent=2))
    save_tokenizer(tokenizer, out_dir / TOKENIZER)
    return out_dir


def load_bundle(model_dir: Path):  # -> tuple[CLIP, Tokenizer]
    """The model in eval mode and its tokenizer; weights loaded strictly."""
    from safetensors.torch import load_file

    from components.model.clip import CLIP

    model_dir = Path(model_dir)
    missing = [n for n in (WEIGHTS, CONFIG, TOKENIZER) if not (model_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{model_dir} is not a trained model (missing {', '.join(missing)})"
        )
    model = CLIP(CLIPConfig.model_validate(json.loads((model_dir / CONFIG).read_text())))
    model.load_state_dict(load_file(str(model_dir / WEIGHTS)), strict=True)
    return model.eval(), load_tokenizer(model_dir / TOKENIZER)
