"""Checkpoints use OpenAI CLIP's state-dict layout and round-trip exactly."""

from __future__ import annotations

import torch

from components.model.bundle import load_bundle, save_bundle
from components.model.clip import create_model
from components.model.tokenizer import WordTokenizer

# Shapes of OpenAI's released ViT-B/32 state dict (clip.load("ViT-B/32").state_dict()).
OPENAI_VIT_B_32 = {
    "visual.conv1.weight": (768, 3, 32, 32),
    "visual.class_embedding": (768,),
    "visual.positional_embedding": (50, 768),
    "visual.ln_pre.weight": (768,),
    "visual.transformer.resblocks.11.attn.in_proj_weight": (2304, 768),
    "visual.transformer.resblocks.11.attn.out_proj.weight": (768, 768),
    "visual.transformer.resblocks.11.mlp.c_fc.weight": (3072, 768),
    "visual.transformer.resblocks.11.mlp.c_proj.weight": (768, 3072),
    "visual.ln_post.bias": (768,),
    "visual.proj": (768, 512),
    "token_embedding.weight": (49408, 512),
    "positional_embedding": (77, 512),
    "transformer.resblocks.0.attn.in_proj_bias": (1536,),
    "transformer.resblocks.0.ln_2.weight": (512,),
    "ln_final.weight": (512,),
    "text_projection": (512, 512),
    "logit_scale": (),
}


def test_vit_b_32_state_dict_has_openai_names_and_shapes():
    with torch.device("meta"):
        state = create_model("ViT-B-32").state_dict()
    for key, shape in OPENAI_VIT_B_32.items():
        assert tuple(state[key].shape) == shape, key
    # 12 blocks x 12 tensors per tower, 8 more visual (conv1, class and position embeddings,
    # ln_pre, ln_post, proj) and 6 more text/shared (token and position embeddings, ln_final,
    # text_projection, logit_scale): 302, OpenAI's keys once build_model drops its metadata.
    assert len(state) == 2 * 12 * 12 + 8 + 6


def test_round_trip_save_load_strict_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = create_model("clip-tiny").eval()
    tokenizer = WordTokenizer.train(["a red heart", "a dog face"], 4096, 32)
    save_bundle(model, tokenizer, tmp_path / "bundle")
    loaded, loaded_tokenizer = load_bundle(tmp_path / "bundle")

    images = torch.randn(3, 3, 32, 32)
    tokens = tokenizer(["a red heart", "a dog face", "a heart"])
    with torch.no_grad():
        for got, want in zip(loaded(images, tokens), model(images, tokens), strict=True):
            assert torch.equal(got, want)
    assert torch.equal(loaded_tokenizer(["a dog face"]), tokenizer(["a dog face"]))


def test_plain_openai_style_state_dict_file_loads_strictly(tmp_path):
    """OpenAI's non-JIT checkpoints are a plain state dict, read by torch.load(weights_only)."""
    torch.manual_seed(1)
    source = create_model("clip-tiny")
    torch.save(source.state_dict(), tmp_path / "openai_style.pt")
    target = create_model("clip-tiny")
    target.load_state_dict(torch.load(tmp_path / "openai_style.pt", weights_only=True), strict=True)
    for (name, a), (_, b) in zip(
        source.state_dict().items(), target.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
