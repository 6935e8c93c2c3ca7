"""A locked text tower's features are computed once per distinct caption: the same training
steps as without the cache, with the tower run only for captions it has not seen."""

from __future__ import annotations

import torch

from components.model.clip import create_model
from components.training.locking import lock_towers
from components.training.loss import clip_loss
from components.training.optim import make_optimizer
from components.training.step import TrainStep
from components.training.text_cache import LockedTextCache


def _steps(cached: bool, batches: list[tuple[torch.Tensor, torch.Tensor]]):
    torch.manual_seed(0)
    model = create_model("clip-tiny")
    lock_towers(model, image=False, text=True)
    optimizer = make_optimizer(model, 1e-3, 0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    cache = LockedTextCache(model, max_entries=6) if cached else None
    step = TrainStep(model, model, optimizer, scheduler, clip_loss, text_cache=cache)
    losses = [float(step(images, tokens)) for images, tokens in batches]
    return losses, model.state_dict(), cache


def test_cached_text_features_train_the_same_weights() -> None:
    generator = torch.Generator().manual_seed(1)
    captions = torch.randint(1, 4000, (8, 32), generator=generator)  # 8 distinct token rows
    batches = []
    for n in range(4):
        rows = torch.tensor([(n + i) % 8 for i in range(6)])  # captions recur across steps
        images = torch.randn(6, 3, 32, 32, generator=generator)
        batches.append((images, captions[rows]))
    plain_losses, plain, _ = _steps(False, batches)
    cached_losses, cached, cache = _steps(True, batches)
    # the tower runs on other row groupings: float rounding apart, the same numbers
    torch.testing.assert_close(torch.tensor(cached_losses), torch.tensor(plain_losses),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    for key in plain:
        torch.testing.assert_close(cached[key], plain[key], rtol=1e-4, atol=1e-5)  # Adam: rounding
    # 24 rows seen; 8 distinct captions, but at most 6 kept: some come back and are encoded again
    assert cache.encoded + cache.reused == 24
    assert 8 <= cache.encoded < 24 and cache.reused > 0
    assert len(cache._features) <= 6
