"""Model architectures as JSON data (fields as in open_clip's model configs)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

CONFIG_DIR = Path(__file__).parent / "configs"


class VisionConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    image_size: int = Field(gt=0)
    layers: int = Field(gt=0)
    width: int = Field(gt=0)
    heads: int = Field(gt=0)
    patch_size: int = Field(gt=0)
    mlp_ratio: float = 4.0


class TextConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    context_length: int = Field(gt=1)
    vocab_size: int = Field(gt=4)
    width: int = Field(gt=0)
    heads: int = Field(gt=0)
    layers: int = Field(gt=0)
    mlp_ratio: float = 4.0


class CLIPConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    embed_dim: int = Field(gt=0)
    quick_gelu: bool = False
    vision_cfg: VisionConfig
    text_cfg: TextConfig


def available_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def load_config(name_or_path: str | Path) -> CLIPConfig:
    """A config by name (components/model/configs/NAME.json) or by path to a JSON file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = CONFIG_DIR / f"{name_or_path}.json"
    if not path.is_file():
        known = ", ".join(available_configs())
        raise ValueError(f"unknown model config {str(name_or_path)!r} (known: {known})")
    return CLIPConfig.model_validate(json.loads(path.read_text()))
