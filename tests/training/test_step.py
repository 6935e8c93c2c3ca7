"""The shared training step: precision, memory format, determinism, compile."""

from __future__ import annotations

import pytest
import torch

from components.model.clip import create_model
from components.training.loss import clip_loss
from components.training.optim import cosine_with_warmup, make_optimizer
from components.training.step import TrainStep, configure_determinism, resolve_precision

# every test runs on the CPU; the ones marked with DEVICES also on a GPU when there is one
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _batch(seed: int = 0, n: int = 16, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 3, 32, 32, generator=gen)
    tokens = torch.randint(1, 4094, (n, 32), generator=gen)
    tokens[:, 12] = 4095  # the end token
    return images.to(device), tokens.to(device)


def _stepper(seed: int = 0, device: str = "cpu", **options) -> tuple[torch.nn.Module, TrainStep]:
    torch.manual_seed(seed)
    model = create_model("clip-tiny").to(device)
    if options.get("channels_last"):
        model = model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if options.pop("compile", False) else model
    optimizer = make_optimizer(model, 1e-3, 0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: cosine_with_warmup(s, 2, 10))
    return model, TrainStep(model, forward, optimizer, scheduler, clip_loss, **options)


def _train(
    steps: int, device: str = "cpu", **options
) -> tuple[list[float], dict[str, torch.Tensor]]:
    model, step = _stepper(device=device, **options)
    losses = [float(step(*_batch(i, device=device))) for i in range(steps)]
    return losses, {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_precision_auto_is_bf16_on_gpu_only():
    assert resolve_precision("auto", on_gpu=True) == "bf16"
    assert resolve_precision("auto", on_gpu=False) == "fp32"
    assert resolve_precision("bf16", on_gpu=False) == "bf16"
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("fp8", on_gpu=True)


@pytest.mark.parametrize("device", DEVICES)
def test_a_step_lowers_the_loss_on_a_repeated_batch(device):
    model, step = _stepper(device=device)
    images, tokens = _batch(device=device)
    losses = [float(step(images, tokens)) for _ in range(6)]
    assert losses[-1] < losses[0] - 0.1, losses
    assert float(model.logit_scale.detach().exp()) <= 100.0


@pytest.mark.parametrize("device", DEVICES)
def test_bf16_autocast_tracks_fp32(device):
    fp32, _ = _train(3, device, precision="fp32")
    bf16, _ = _train(3, device, precision="bf16")
    # same data, same init: bf16 matmuls move the loss by well under a percent here
    for a, b in zip(fp32, bf16, strict=True):
        assert abs(a - b) / a < 0.02, (fp32, bf16)
    assert fp32 != bf16  # the autocast really changed the arithmetic


def test_channels_last_trains_like_contiguous_images():
    _, plain = _train(2)
    _, nhwc = _train(2, channels_last=True)
    for name in plain:
        torch.testing.assert_close(nhwc[name], plain[name], atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("device", DEVICES)
def test_deterministic_mode_repeats_bit_for_bit(device):
    configure_determinism(True, seed=3)
    try:
        first_losses, first = _train(3, device)
        again_losses, again = _train(3, device)
    finally:
        torch.use_deterministic_algorithms(False)
    assert first_losses == again_losses
    for name in first:
        assert torch.equal(first[name], again[name]), name


def test_accumulation_in_the_step_matches_one_batch():
    _, whole = _train(2)
    _, pieces = _train(2, accum_micro_batches=4)
    for name in whole:
        torch.testing.assert_close(pieces[name], whole[name], atol=2e-6, rtol=1e-4, msg=name)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("device", DEVICES)
def test_compiled_model_trains_like_eager(device):
    eager_losses, _ = _train(2, device)
    compiled_losses, _ = _train(2, device, compile=True)
    torch.testing.assert_close(compiled_losses, eager_losses, atol=1e-4, rtol=1e-4)
