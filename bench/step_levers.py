"""Benchmark of issue 17's step levers: the default model's training step on CPU with and
without (a) the fused AdamW and (b) encoding text only up to the batch's last end token.

One process, the project's TrainStep, the four combinations alternated over rounds (so drift
hits all alike); the best median of each is printed with its ratio to the step before both.
Token rows come from a real corpus when --workdir is given (its manifest's training captions,
half of them templated as training does, through a word tokenizer learned from them), else
from lengths 3-13 (the default corpus's range without the few longest).

    .venv/bin/python bench/step_levers.py [--workdir W] [--model clip-small-resnet]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, run from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import median_step_s  # noqa: E402


def corpus_token_rows(cfg, workdir: Path, batch: int, seed: int):  # -> torch.long [B, L]
    """Training captions of a built corpus, half of them templated, tokenized by a word
    tokenizer learned from them as training learns it (so the ids fit the model's vocab)."""
    import pandas as pd

    from components.model.templates import resolve_templates
    from components.model.tokenizers import build_tokenizer

    manifest = pd.read_parquet(workdir / "data" / "manifest.parquet", columns=["split", "caption"])
    captions = manifest.loc[manifest["split"] == "train", "caption"].tolist()
    templates = resolve_templates("emoji")
    filled = [t.format(c) for c in captions for t in templates]
    tokenizer = build_tokenizer("word", captions + filled, cfg.text_cfg)
    rng = random.Random(seed)
    chosen = [rng.choice(captions) for _ in range(batch)]
    chosen = [rng.choice(templates).format(c) if rng.random() < 0.5 else c for c in chosen]
    return tokenizer(chosen)


def synthetic_token_rows(cfg, batch: int, seed: int):  # -> torch.long [B, L]
    import torch

    gen = torch.Generator().manual_seed(seed)
    length, vocab = cfg.text_cfg.context_length, cfg.text_cfg.vocab_size
    ends = torch.randint(2, min(13, length), (batch,), generator=gen)
    ends[0] = min(13, length) - 1
    tokens = torch.randint(1, vocab - 2, (batch, length), generator=gen)
    tokens[:, 0] = vocab - 2  # start
    tokens[torch.arange(batch), ends] = vocab - 1  # the end token: the highest id
    tokens[torch.arange(length)[None, :] > ends[:, None]] = 0  # padding after it
    return tokens


def full_length_text(model):
    """The text tower over all context columns, as before the change (the baseline)."""
    return lambda tokens: model.encode_text_columns(tokens, tokens.shape[1])


def make_step(cfg, images, tokens, fused: bool, truncate: bool):
    import torch

    from components.model.clip import create_model
    from components.training.loss import clip_loss
    from components.training.optim import cosine_with_warmup, make_optimizer
    from components.training.step import TrainStep

    torch.manual_seed(0)
    model = create_model(cfg)
    optimizer = make_optimizer(model, 1e-3, 0.1)
    if not fused:  # the same groups, updated tensor by tensor (AdamW's CPU default)
        groups = [{"params": g["params"], "weight_decay": g["weight_decay"]}
                  for g in optimizer.param_groups]  # fmt: skip
        optimizer = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.98), eps=1e-6, fused=False)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: cosine_with_warmup(s, 10, 10_000)
    )
    text = None if truncate else full_length_text(model)
    step = TrainStep(model, model, optimizer, scheduler, clip_loss, text_cache=text)
    return lambda: step(images, tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="clip-small-resnet")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--workdir", type=Path, help="a built corpus (its captions)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    import torch

    from components.model.config import load_config

    cfg = load_config(args.model)
    size = cfg.vision_cfg.image_size
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 3, size, size, generator=gen)  # NCHW, as the loop hands them
    if args.workdir:
        tokens = corpus_token_rows(cfg, args.workdir, args.batch, 0)
    else:
        tokens = synthetic_token_rows(cfg, args.batch, 0)
    last_column = int(tokens.argmax(dim=-1).max()) + 1
    variants = {
        (fused, truncate): make_step(cfg, images, tokens, fused, truncate)
        for fused in (False, True)
        for truncate in (False, True)
    }
    times: dict[tuple[bool, bool], list[float]] = {key: [] for key in variants}
    for _ in range(args.rounds):
        for key, step in variants.items():
            times[key].append(median_step_s(step, torch.device("cpu"), args.steps, 5))
    best = {key: min(values) for key, values in times.items()}
    before = best[(False, False)]
    figures = {
        "model": args.model,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "tokens": "corpus" if args.workdir else "synthetic",
        "columns_computed": last_column,
        "context_length": cfg.text_cfg.context_length,
        "step_ms": {
            f"fused={fused} truncate={truncate}": round(t * 1e3, 1)
            for (fused, truncate), t in best.items()
        },
        "ratio_both_over_before": best[(True, True)] / before,
    }
    print(
        f"{args.model} batch {args.batch}, {figures['threads']} threads, text columns "
        f"{last_column}/{cfg.text_cfg.context_length}: before {before * 1e3:.1f} ms, fused "
        f"{best[(True, False)] * 1e3:.1f}, truncated {best[(False, True)] * 1e3:.1f}, both "
        f"{best[(True, True)] * 1e3:.1f} ms -> ratio {figures['ratio_both_over_before']:.3f}"
    )
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
