import pytest

from components.model.clip import create_model
from components.training.optim import cosine_with_warmup, make_optimizer


def test_no_weight_decay_on_gains_biases_and_temperature():
    model = create_model("clip-tiny")
    decay, no_decay = make_optimizer(model, 1e-3, 0.2).param_groups
    assert decay["weight_decay"] == 0.2 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    no_decay_names = {names[id(p)] for p in no_decay["params"]}
    assert "logit_scale" in no_decay_names
    assert "ln_final.weight" in no_decay_names and "visual.ln_post.bias" in no_decay_names
    assert all(
        names[id(p)].endswith(("weight", "proj", "projection", "positional_embedding"))
        for p in decay["params"]
    )


def test_cosine_schedule_warms_up_then_decays_to_zero():
    assert cosine_with_warmup(0, 10, 100) == pytest.approx(0.1)
    assert cosine_with_warmup(9, 10, 100) == pytest.approx(1.0)
    assert cosine_with_warmup(10, 10, 100) == pytest.approx(1.0)
    assert cosine_with_warmup(55, 10, 100) == pytest.approx(0.5)
    assert cosine_with_warmup(100, 10, 100) == pytest.approx(0.0)
