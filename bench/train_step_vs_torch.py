"""Benchmark (a) of issue 5: this project's training step against a plain PyTorch loop.

Same model, same batch, same precision and device, one process. The plain loop is the textbook
CLIP step (forward, symmetric cross-entropy, backward, AdamW). The project's step adds what a
real run needs: the global-batch loss (all_gather; a no-op in one process), decay groups, the
schedule, gradient clipping and the temperature clamp; with --ddp it also runs under
DistributedDataParallel in a one-process group (gloo on CPU, NCCL on GPU), as a Ray worker does.

    .venv/bin/python bench/train_step_vs_torch.py [--model clip-small] [--batch 128]
    python3 bench/train_step_vs_torch.py --model ViT-B-32 --batch 256 --device cuda --ddp

Prints the step-time ratio (project / plain; 1.00 = no overhead), samples/s, and on a GPU the
model FLOP utilisation (FLOPs counted by torch's FlopCounterMode over one step).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, run from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import bf16_peak_flops, median_step_s, peak_rss_mb  # noqa: E402


def make_batch(cfg, batch: int, image_size: int, device):
    import torch

    gen = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, image_size, image_size, generator=gen)
    length, vocab = cfg.text_cfg.context_length, cfg.text_cfg.vocab_size
    tokens = torch.randint(1, vocab - 1, (batch, length), generator=gen)
    tokens[:, length // 2] = vocab - 1  # the end token (highest id) mid-sequence
    return images.to(device), tokens.to(device)


def plain_step_fn(model, images, tokens, precision: str):
    """The textbook loop: what a user would write in a single script."""
    import torch
    import torch.nn.functional as F

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    labels = torch.arange(images.shape[0], device=images.device)
    dtype = torch.bfloat16 if precision == "bf16" else None

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(images.device.type, dtype=dtype, enabled=dtype is not None):
            image_features, text_features, scale = model(images, tokens)
        logits = scale.float() * image_features.float() @ text_features.float().T  # [B, B]
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        loss.backward()
        optimizer.step()

    return step


def project_step_fn(model, images, tokens, args, device):
    import torch

    from components.training.loss import clip_loss
    from components.training.optim import cosine_with_warmup, make_optimizer
    from components.training.step import TrainStep

    forward = model
    if args.ddp:
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29531")
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=0, world_size=1)
        forward = DistributedDataParallel(
            model, device_ids=[device] if device.type == "cuda" else None
        )
    if args.compile:
        forward = torch.compile(forward)
    optimizer = make_optimizer(model, 1e-4, 0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: cosine_with_warmup(s, 10, 10_000)
    )
    step = TrainStep(
        model, forward, optimizer, scheduler, clip_loss,
        precision=args.precision, channels_last=args.channels_last,
    )  # fmt: skip
    return lambda: step(images, tokens)


def count_flops(step) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="clip-small")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=None, help="default: the model's")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2, help="plain/project alternations")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--ddp", action="store_true", help="the project's step under DDP")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    import torch

    from components.model.clip import create_model
    from components.model.config import load_config
    from components.training.step import resolve_precision

    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    args.precision = resolve_precision(args.precision, device.type == "cuda")
    cfg = load_config(args.model)
    image_size = args.image_size or cfg.vision_cfg.image_size
    images, tokens = make_batch(cfg, args.batch, image_size, device)

    def fresh_model():
        torch.manual_seed(0)
        model = create_model(cfg).to(device)
        return model.to(memory_format=torch.channels_last) if args.channels_last else model

    plain = plain_step_fn(fresh_model(), images, tokens, args.precision)
    project = project_step_fn(fresh_model(), images, tokens, args, device)
    plain_s, project_s = [], []
    for _ in range(args.rounds):  # alternate, so drift hits both alike
        plain_s.append(median_step_s(plain, device, args.steps, args.warmup))
        project_s.append(median_step_s(project, device, args.steps, args.warmup))
    plain_t, project_t = min(plain_s), min(project_s)
    flops = count_flops(project)
    figures = {
        "model": args.model,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "image_size": image_size,
        "precision": args.precision,
        "channels_last": args.channels_last,
        "compile": args.compile,
        "ddp": args.ddp,
        "plain_step_s": plain_t,
        "project_step_s": project_t,
        "ratio_project_over_plain": project_t / plain_t,
        "project_samples_per_s": args.batch / project_t,
        "flops_per_step": flops,
        "achieved_tflops": flops / project_t / 1e12,
        "peak_rss_mb": peak_rss_mb(),
    }
    if device.type == "cuda":
        figures["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        peak = bf16_peak_flops(figures["device"])
        if peak and args.precision == "bf16":
            figures["bf16_peak_tflops"] = peak / 1e12
            figures["mfu"] = flops / project_t / peak
    print(
        f"{args.model} batch {args.batch} at {image_size}px, {args.precision}, "
        f"{figures['device']}: plain {plain_t * 1e3:.1f} ms/step, project "
        f"{project_t * 1e3:.1f} ms/step -> ratio {figures['ratio_project_over_plain']:.3f}; "
        f"{figures['project_samples_per_s']:.0f} samples/s, "
        f"{figures['achieved_tflops']:.2f} TFLOP/s"
        + (f", MFU {figures['mfu']:.1%}" if "mfu" in figures else "")
    )
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
