"""The LiT step with the locked MiniLM text tower's features cached per caption
(train.text_cache_entries) against the same step running the tower on every batch.

    .venv/bin/python bench/text_cache_lit.py [--model clip-small-minilm] [--batch 128]
        [--captions 2000] [--steps 20]

One process, the same model, batches and optimiser both ways. Each batch draws its captions from
a pool of `--captions` distinct token rows (the default corpus has about 1,800 concepts of a few
captions each); the cached step is timed after a warm-up that has seen the pool once, as every
epoch after the first would be. Prints the median step time both ways and the ratio.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import median_step_s  # noqa: E402


def main() -> None:
    import torch

    from components.model.clip import create_model
    from components.training.locking import lock_towers
    from components.training.loss import clip_loss
    from components.training.optim import make_optimizer
    from components.training.step import TrainStep
    from components.training.text_cache import LockedTextCache

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="clip-small-minilm")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--captions", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    gen = torch.Generator().manual_seed(0)
    model = create_model(args.model)
    cfg = model.config
    length, side = cfg.text_cfg.context_length, cfg.vision_cfg.image_size
    pool = torch.randint(1000, cfg.text_cfg.vocab_size - 2, (args.captions, length), generator=gen)
    pool[:, 0], pool[:, 12:] = 101, 0  # [CLS] ... then padding: a short caption
    pool[:, 11] = 102  # [SEP]
    images = torch.randn(args.batch, 3, side, side, generator=gen)

    def batch_tokens():
        return pool[torch.randint(0, args.captions, (args.batch,), generator=gen)]

    times = {}
    for way in ("every_step", "cached"):
        torch.manual_seed(0)
        model = create_model(args.model)
        lock_towers(model, image=False, text=True)
        optimizer = make_optimizer(model, 1e-4, 0.1)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
        cache = LockedTextCache(model, 100_000) if way == "cached" else None
        step = TrainStep(model, model, optimizer, scheduler, clip_loss, text_cache=cache)
        if cache is not None:  # an epoch already seen: every caption once
            for first in range(0, args.captions, args.batch):
                cache(pool[first : first + args.batch])
        times[way] = median_step_s(
            lambda step=step: step(images, batch_tokens()), torch.device("cpu"), args.steps, 2
        )
        print(f"{way}: {times[way]:.3f} s a step ({args.batch / times[way]:.0f} samples/s)")
    print(f"speed-up of the cached LiT step: {times['every_step'] / times['cached']:.2f}x")


if __name__ == "__main__":
    main()
