import math

import pytest
import torch

from components.model.clip import INIT_LOGIT_SCALE, create_model
from components.model.config import available_configs, load_config


@pytest.mark.parametrize(
    ("name", "params"),
    [  # published counts (OpenAI CLIP / open_clip)
        ("ViT-B-32", 151_277_313),
        ("ViT-B-16", 149_620_737),
        ("RN50", 102_007_137),
        ("RN101", 119_688_033),
    ],
)
def test_parameter_counts_equal_the_published_ones(name, params):
    with torch.device("meta"):  # no memory, no init time
        model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == params


def test_state_dict_uses_openai_key_names():
    keys = set(create_model("clip-tiny").state_dict())
    for key in (
        "visual.conv1.weight",
        "visual.class_embedding",
        "visual.positional_embedding",
        "visual.ln_pre.weight",
        "visual.transformer.resblocks.0.attn.in_proj_weight",
        "visual.transformer.resblocks.0.mlp.c_fc.weight",
        "visual.ln_post.bias",
        "visual.proj",
        "token_embedding.weight",
        "positional_embedding",
        "transformer.resblocks.1.attn.out_proj.weight",
        "ln_final.weight",
        "text_projection",
        "logit_scale",
    ):
        assert key in keys
    assert "visual.conv1.bias" not in keys  # patchify conv has no bias


def test_forward_shapes_normalised_features_and_initial_temperature():
    torch.manual_seed(0)
    model = create_model("clip-tiny")
    cfg = model.config
    images = torch.randn(3, 3, cfg.vision_cfg.image_size, cfg.vision_cfg.image_size)
    tokens = torch.zeros(3, cfg.text_cfg.context_length, dtype=torch.long)
    tokens[:, 0], tokens[:, 1:4], tokens[:, 4] = 4094, 7, 4095
    image_features, text_features, scale = model(images, tokens)
    assert image_features.shape == text_features.shape == (3, cfg.embed_dim)
    torch.testing.assert_close(image_features.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(text_features.norm(dim=-1), torch.ones(3))
    assert math.isclose(scale.item(), 1 / 0.07, rel_tol=1e-5)
    assert math.isclose(model.logit_scale.item(), INIT_LOGIT_SCALE, rel_tol=1e-6)


def test_text_feature_is_taken_at_the_end_token_and_is_causal():
    torch.manual_seed(0)
    model = create_model("clip-tiny").eval()
    base = torch.zeros(1, 32, dtype=torch.long)
    base[0, :4] = torch.tensor([4094, 5, 6, 4095])
    changed_after_eot = base.clone()
    changed_after_eot[0, 6] = 9  # a token after the end token cannot change a causal feature
    with torch.no_grad():
        torch.testing.assert_close(model.encode_text(base), model.encode_text(changed_after_eot))
        changed_before = base.clone()
        changed_before[0, 1] = 8
        assert not torch.allclose(model.encode_text(base), model.encode_text(changed_before))


class _TextTower(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model.encode_text(tokens)


def test_a_batch_is_encoded_only_up_to_its_last_end_token_with_the_same_features():
    # encode_text skips the columns after the batch's last end token: a short caption gives the
    # same feature alone (4 columns computed) as beside a caption that fills all 32
    torch.manual_seed(0)
    model = create_model("clip-tiny").eval()
    short = torch.zeros(1, 32, dtype=torch.long)
    short[0, :4] = torch.tensor([4094, 5, 6, 4095])
    full = torch.randint(1, 4000, (1, 32))
    full[0, 0], full[0, -1] = 4094, 4095
    with torch.no_grad():
        alone = model.encode_text(short)
        together = model.encode_text(torch.cat([short, full]))
        # a traced graph keeps all 32 columns: traced on the short caption, it still encodes both
        traced = torch.jit.trace(_TextTower(model), short)(torch.cat([short, full]))
    torch.testing.assert_close(alone, together[:1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(traced, together, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(together[0], together[1])


def test_logit_scale_clamped_to_100():
    model = create_model("clip-tiny")
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    model.clamp_logit_scale()
    assert math.isclose(model.logit_scale.exp().item(), 100.0, rel_tol=1e-5)


def test_unknown_config_lists_the_known_ones():
    with pytest.raises(ValueError, match="clip-tiny"):
        load_config("no-such-model")
    assert {"clip-tiny", "clip-small", "ViT-B-32", "ViT-B-16"} <= set(available_configs())
