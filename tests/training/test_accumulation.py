import pytest
import torch

from components.model.clip import create_model
from components.training.accumulation import accumulate_gradients
from components.training.loss import clip_loss


def _grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("micro_batches", [2, 4])
def test_accumulated_gradients_equal_the_big_batch(micro_batches):
    torch.manual_seed(0)
    model = create_model("clip-tiny")
    images = torch.randn(16, 3, 32, 32)
    tokens = torch.randint(1, 4094, (16, 32))
    tokens[:, 10] = 4095  # the end token

    big_loss = clip_loss(*model(images, tokens))
    big_loss.backward()
    want = _grads(model)
    model.zero_grad(set_to_none=True)

    loss = accumulate_gradients(model, clip_loss, images, tokens, micro_batches)
    got = _grads(model)
    torch.testing.assert_close(loss, big_loss.detach(), atol=1e-6, rtol=0)
    assert got.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], atol=1e-6, rtol=1e-5, msg=name)
