import pytest
import torch

from components.model.clip import INIT_LOGIT_SCALE, create_model
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


def test_the_fused_update_on_cpu_equals_adamw_s_per_tensor_loop():
    torch.manual_seed(0)
    fused_model, loop_model = create_model("clip-tiny"), create_model("clip-tiny")
    loop_model.load_state_dict(fused_model.state_dict())
    fused = make_optimizer(fused_model, 1e-3, 0.1)
    assert fused.defaults["fused"]
    groups = [  # the same decay groups, updated tensor by tensor
        {"params": g["params"], "weight_decay": g["weight_decay"]}
        for g in make_optimizer(loop_model, 1e-3, 0.1).param_groups
    ]
    loop = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.98), eps=1e-6, fused=False)
    for step in range(3):
        torch.manual_seed(step)
        grads = [torch.randn_like(p) for p in fused_model.parameters()]
        for model, optimizer in ((fused_model, fused), (loop_model, loop)):
            for p, g in zip(model.parameters(), grads, strict=True):
                p.grad = g.clone()
            optimizer.step()
    for (name, a), b in zip(fused_model.named_parameters(), loop_model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    assert not torch.equal(fused_model.logit_scale, torch.tensor(INIT_LOGIT_SCALE))


def test_cosine_schedule_warms_up_then_decays_to_zero():
    assert cosine_with_warmup(0, 10, 100) == pytest.approx(0.1)
    assert cosine_with_warmup(9, 10, 100) == pytest.approx(1.0)
    assert cosine_with_warmup(10, 10, 100) == pytest.approx(1.0)
    assert cosine_with_warmup(55, 10, 100) == pytest.approx(0.5)
    assert cosine_with_warmup(100, 10, 100) == pytest.approx(0.0)
