"""The cost of choosing a step's batch at N and 16N samples: the permutation drawn at every
step (before) against once per epoch (components/training/loop.py:epoch_order). One process run;
prints ms per step and the ratios.

    python bench/batch_order.py [--n 625000] [--steps 20]
"""

from __future__ import annotations

import argparse
import time

import torch

from components.training.loop import batch_indices, epoch_order


def per_step_every_time(n: int, steps: int, batch: int) -> float:
    started = time.perf_counter()
    for step in range(steps):
        epoch, index = divmod(step, n // batch)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch))
        order[index * batch : (index + 1) * batch]
    return (time.perf_counter() - started) / steps * 1e3


def per_step_cached(n: int, steps: int, batch: int) -> float:
    epoch_order.cache_clear()
    started = time.perf_counter()
    for step in range(steps):
        batch_indices(n, step, batch, 0, 1, seed=0)
    return (time.perf_counter() - started) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=625_000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    for n in (args.n, 16 * args.n):
        before = per_step_every_time(n, args.steps, args.batch)
        after = per_step_cached(n, args.steps, args.batch)
        print(
            f"N={n:>10,d}: every step {before:8.2f} ms/step, once per epoch {after:6.2f} "
            f"ms/step (the first step pays the draw), ratio {before / after:6.1f}"
        )


if __name__ == "__main__":
    main()
