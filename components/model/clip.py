"""CLIP (Radford et al. 2021): a ViT image tower and a causal text transformer in one file.

Parameter names follow OpenAI's `clip/model.py` (visual.conv1, transformer.resblocks.N.attn.
in_proj_weight, ln_final, text_projection, logit_scale ...) so state dicts move between this
project, OpenAI CLIP and open_clip. Attention is written out by hand (not nn.MultiheadAttention)
so both towers export cleanly to ONNX.

Shapes: B batch, L text tokens, N image tokens (patches + class), D width, E embed_dim.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from components.model.config import CLIPConfig, TextConfig, VisionConfig
from components.model.layers import LayerNorm
from components.model.resnet import ModifiedResNet

# The paper's initial temperature: logit_scale = ln(1 / 0.07); clamped to ln(100) during training.
INIT_LOGIT_SCALE = math.log(1 / 0.07)
MAX_LOGIT_SCALE = math.log(100.0)


class QuickGELU(nn.Module):
    """The sigmoid GELU approximation the OpenAI models were trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class Attention(nn.Module):
    """Multi-head self-attention with nn.MultiheadAttention's parameter layout."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        b, n, d = x.shape  # [B, N, D]
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # [B, N, 3D]
        q, k, v = qkv.view(b, n, 3, self.heads, d // self.heads).permute(
            2, 0, 3, 1, 4
        )  # [B, H, N, D/H]
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # [B, H, N, D/H]
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d))


class ResidualAttentionBlock(nn.Module):
    """Pre-LN transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, quick_gelu: bool) -> None:
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.attn = Attention(width, heads)
        self.ln_1 = LayerNorm(width)
        act: nn.Module = QuickGELU() if quick_gelu else nn.GELU()
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(width, hidden)),
                    ("gelu", act),
                    ("c_proj", nn.Linear(hidden, width)),
                ]
            )
        )
        self.ln_2 = LayerNorm(width)

    def forward(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), causal)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(
        self, width: int, layers: int, heads: int, mlp_ratio: float, quick_gelu: bool
    ) -> None:
        super().__init__()
        self.width, self.layers = width, layers
        self.resblocks = nn.ModuleList(
            ResidualAttentionBlock(width, heads, mlp_ratio, quick_gelu) for _ in range(layers)
        )

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, causal)
        return x


class VisionTransformer(nn.Module):
    """Patchify (conv, no bias) -> [class] + patches + positions -> ln_pre -> blocks
    -> ln_post on the class token -> proj."""

    def __init__(self, cfg: VisionConfig, embed_dim: int, quick_gelu: bool) -> None:
        super().__init__()
        if cfg.image_size % cfg.patch_size:
            raise ValueError(
                f"image_size {cfg.image_size} is not a multiple of patch_size {cfg.patch_size}"
            )
        width, grid = cfg.width, cfg.image_size // cfg.patch_size
        self.image_size = cfg.image_size
        self.conv1 = nn.Conv2d(
            3, width, kernel_size=cfg.patch_size, stride=cfg.patch_size, bias=False
        )
        scale = width**-0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, cfg.layers, cfg.heads, cfg.mlp_ratio, quick_gelu)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, embed_dim))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.conv1(images)  # [B, D, G, G]
        x = x.flatten(2).transpose(1, 2)  # [B, G*G, D]
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)  # [B, 1, D]
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)  # [B, N, D]
        x = self.transformer(self.ln_pre(x))  # [B, N, D]
        return self.ln_post(x[:, 0, :]) @ self.proj  # [B, E]


class CLIP(nn.Module):
    def __init__(self, cfg: CLIPConfig) -> None:
        super().__init__()
        self.config = cfg
        text: TextConfig = cfg.text_cfg
        self.context_length = text.context_length
        vision = cfg.vision_cfg
        if vision.is_resnet:
            heads = vision.heads or vision.width * 32 // 64
            self.visual = ModifiedResNet(
                list(vision.layers), cfg.embed_dim, heads, vision.image_size, vision.width
            )
        else:
            self.visual = VisionTransformer(vision, cfg.embed_dim, cfg.quick_gelu)
        self.text = None  # the pretrained MiniLM tower (LiT), in place of CLIP's text modules
        if text.tower == "minilm":
            from components.model.minilm import MiniLMTextTower

            self.text = MiniLMTextTower(cfg.embed_dim)
        else:
            self.transformer = Transformer(
                text.width, text.layers, text.heads, text.mlp_ratio, cfg.quick_gelu
            )
            self.token_embedding = nn.Embedding(text.vocab_size, text.width)
            self.positional_embedding = nn.Parameter(torch.empty(text.context_length, text.width))
            self.ln_final = LayerNorm(text.width)
            self.text_projection = nn.Parameter(torch.empty(text.width, cfg.embed_dim))
        scale = INIT_LOGIT_SCALE if cfg.init_logit_scale is None else cfg.init_logit_scale
        self.logit_scale = nn.Parameter(torch.tensor(scale))
        self.logit_bias = None  # only the sigmoid loss has one: OpenAI's state dict stays as is
        if cfg.init_logit_bias is not None:
            self.logit_bias = nn.Parameter(torch.tensor(cfg.init_logit_bias))
        self.initialize_parameters()

    def initialize_parameters(self) -> None:
        """The paper's initialisation (as in OpenAI's clip/model.py)."""
        towers = []
        if self.text is None:  # a MiniLM tower brings its own (pretrained) weights
            nn.init.normal_(self.token_embedding.weight, std=0.02)
            nn.init.normal_(self.positional_embedding, std=0.01)
            nn.init.normal_(self.text_projection, std=self.transformer.width**-0.5)
            towers.append(self.transformer)
        if isinstance(self.visual, VisionTransformer):  # the ResNet initialises itself
            towers.append(self.visual.transformer)
        for tower in towers:
            width, layers = tower.width, tower.layers
            proj_std = (width**-0.5) * ((2 * layers) ** -0.5)
            attn_std, fc_std = width**-0.5, (2 * width) ** -0.5
            for block in tower.resblocks:
                nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
                nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
                nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
                nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.visual(images)  # [B, 3, S, S] -> [B, E]

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.text is not None:
            return self.text(tokens)  # [B, L] -> [B, E], mean-pooled over real tokens
        length = tokens.shape[1]
        tracing = torch.compiler.is_compiling() or torch.jit.is_tracing()
        if tokens.device.type == "cpu" and not tracing:
            # Causal attention: no position sees the padding after the batch's last end token,
            # so those columns change nothing and are not computed (on the default corpus a
            # batch ends by column 13.5 of 16 on average). Traced graphs keep the static
            # length; on a GPU the padding costs less than the host sync of reading the max.
            length = int(tokens.argmax(dim=-1).max()) + 1
        return self.encode_text_columns(tokens, length)

    def encode_text_columns(self, tokens: torch.Tensor, length: int) -> torch.Tensor:
        """The CLIP text tower over the first `length` columns of `tokens` [B, L] -> [B, E]:
        every row's end token must lie within them."""
        # The feature at the end-of-text token. OpenAI's vocab puts EOT at the highest id, so
        # argmax(tokens) finds it; every tokenizer here keeps that property.
        eot = tokens.argmax(dim=-1)  # [B]
        x = self.token_embedding(tokens[:, :length]) + self.positional_embedding[:length]
        x = self.ln_final(self.transformer(x, causal=True))  # [B, L', D]
        return x[torch.arange(x.shape[0], device=x.device), eot] @ self.text_projection  # [B, E]

    def forward(
        self, images: torch.Tensor, tokens: torch.Tensor, text_features: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Normalised image features [B, E], normalised text features [B, E], logit scale exp(t).
        `text_features` [B, E]: the text tower's output for `tokens`, already computed (a locked
        tower's, from training's cache)."""
        image_features = F.normalize(self.encode_image(images), dim=-1)
        if text_features is None:
            text_features = self.encode_text(tokens)
        return image_features, F.normalize(text_features, dim=-1), self.logit_scale.exp()

    @torch.no_grad()
    def clamp_logit_scale(self) -> None:
        """After every optimiser step: the learned temperature never exceeds 100."""
        self.logit_scale.clamp_(0, MAX_LOGIT_SCALE)


def create_model(cfg: CLIPConfig | str, data_cache: Path | None = None) -> CLIP:
    """A freshly initialised CLIP from a config object, a config name or a JSON path; a MiniLM
    text tower loads the packaged weights (kept under `data_cache`)."""
    from components.model.config import load_config
    from components.model.wheel_data import DEFAULT_CACHE

    model = CLIP(cfg if isinstance(cfg, CLIPConfig) else load_config(cfg))
    if model.text is not None:  # LiT: the packaged MiniLM's weights, locked if asked
        model.text.load_pretrained(cache_dir=data_cache or DEFAULT_CACHE)
        if model.config.text_cfg.locked:
            model.text.freeze_encoder()
    return model
