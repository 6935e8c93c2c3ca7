"""LiT: a locked tower keeps its weights; initial weights load strictly or fail clearly."""

from __future__ import annotations

import pytest
import torch

from components.model.clip import create_model
from components.model.init_weights import InitWeightsError, load_initial_weights
from components.settings import ConfigError, load_settings
from components.training.locking import lock_towers
from components.training.loss import clip_loss
from components.training.optim import make_optimizer


def _step(model) -> None:
    optimizer = make_optimizer(model, 1e-2, 0.1)
    tokens = torch.randint(1, 4094, (8, 32))
    tokens[:, 6] = 4095
    clip_loss(*model(torch.randn(8, 3, 32, 32), tokens)).backward()
    optimizer.step()


@pytest.mark.parametrize(("image", "text"), [(True, False), (False, True)])
def test_a_locked_tower_does_not_move(image, text):
    torch.manual_seed(0)
    model = create_model("clip-tiny")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    frozen = set(lock_towers(model, image=image, text=text))
    _step(model)
    for name, param in model.named_parameters():
        moved = not torch.equal(param, before[name])
        assert moved != (name in frozen), name
    prefix = "visual." if image else "transformer."
    assert any(n.startswith(prefix) for n in frozen)
    assert "logit_scale" not in frozen


def test_locking_both_towers_is_refused():
    with pytest.raises(ConfigError, match="nothing to train"):
        load_settings(
            "tiny", overrides={"train": {"lock_image_tower": True, "lock_text_tower": True}}
        )


def test_initial_weights_load_strictly_from_state_dict_or_safetensors(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    trained = create_model("clip-tiny")
    state = trained.state_dict()
    torch.save({**state, "input_resolution": torch.tensor(32)}, tmp_path / "openai_style.pt")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "model.safetensors"))
    for name in ("openai_style.pt", "model.safetensors"):
        fresh = create_model("clip-tiny")
        load_initial_weights(fresh, tmp_path / name)
        assert all(torch.equal(fresh.state_dict()[k], v) for k, v in state.items())

    with pytest.raises(InitWeightsError, match="does not exist"):
        load_initial_weights(create_model("clip-tiny"), tmp_path / "missing.pt")
    with pytest.raises(InitWeightsError, match="does not fit"):
        load_initial_weights(create_model("clip-small"), tmp_path / "model.safetensors")


def test_minilm_tower_is_pretrained_locked_and_needs_its_tokenizer():
    from components.model.tokenizers import build_tokenizer
    from components.stages import check_settings
    from components.training.stage import model_config

    torch.manual_seed(0)
    model = create_model("clip-tiny-minilm")
    trainable_text = [
        n for n, p in model.named_parameters() if p.requires_grad and n.startswith("text.")
    ]
    assert trainable_text == ["text.proj.weight"]
    tokenizer = build_tokenizer("wordpiece", [], model.config.text_cfg)
    with torch.no_grad():
        dog, puppy, market = model.text.sentence_embedding(
            tokenizer(["a photo of a dog", "a picture of a puppy", "the stock market fell"])
        )
    cosine = torch.nn.functional.cosine_similarity
    assert cosine(dog, puppy, dim=0) > cosine(dog, market, dim=0) + 0.5  # pretrained, not random

    settings = load_settings("lit", overrides={"model": {"tokenizer": "word"}})
    with pytest.raises(ConfigError, match="wordpiece"):
        check_settings(settings)  # at load, before any compute
    check_settings(load_settings("lit"))
    assert model_config(load_settings("lit").model, "clip").text_cfg.tower == "minilm"
