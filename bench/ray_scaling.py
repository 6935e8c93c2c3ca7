"""Benchmarks (b) and (c) of issue 5: Ray Train workers against one plain process, Ray's fixed
cost per fit, and peak memory per worker; one process run, on the workdir's corpus.

    .venv/bin/python bench/ray_scaling.py [--profile default] [--workdir .] [--epochs 1]
    python3 bench/ray_scaling.py --use-gpu ...     # 1 Ray worker on the GPU (NCCL) vs 1 process

Needs a built and validated corpus (`make run`, or `clip-pipeline data build` + `validate`).
Runs, each over the same global batch and the same data order:
  1. one plain process (no Ray), all this machine's cores as torch threads, the project's step;
  2. Ray Train, 1 worker with 1 CPU (with --use-gpu: 1 worker on the GPU);
  3. Ray Train, 2 workers with 1 CPU each, half the batch each (not with --use-gpu).
Prints samples/s of each, the ratio 2 workers / 1 process, the scaling efficiency
t(1 worker) / (2 t(2 workers)), the fixed cost of a fit (wall time minus the steps: Ray start,
worker start, data loading, model build) and each worker's peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import peak_rss_mb, synchronize  # noqa: E402

SKIP = 2  # first steps of each run: allocator and thread-pool warm-up


def plain_process(settings, loop_config, device_name: str) -> dict:
    """The project's step in this process, no Ray: the baseline."""
    import torch

    from components.data.corpus.reader import read_split
    from components.model.clip import create_model
    from components.model.preprocess import images_to_tensor, normalize
    from components.model.tokenizers import tokenizer_from_dict
    from components.training.loss import clip_loss
    from components.training.optim import cosine_with_warmup, make_optimizer
    from components.training.step import TrainStep, resolve_precision

    cfg = settings.train
    device = torch.device(device_name)
    tokenizer = tokenizer_from_dict(loop_config.tokenizer)
    started = time.perf_counter()
    # the baseline holds the split in memory (what training did before it streamed)
    samples = read_split(settings.paths.data, "train")
    images_all = images_to_tensor([s.image_png for s in samples], loop_config.image_size)
    tokens_all = tokenizer([s.captions[0] for s in samples])
    torch.manual_seed(cfg.seed)
    model = create_model(loop_config.model, loop_config.data_cache).to(device)
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay)
    n, batch = images_all.shape[0], cfg.global_batch_size
    total = cfg.epochs * (n // batch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: cosine_with_warmup(s, cfg.warmup_steps, total)
    )
    precision = resolve_precision(cfg.precision, device.type == "cuda")
    step = TrainStep(model, model, optimizer, scheduler, clip_loss, precision=precision)
    setup_s = time.perf_counter() - started
    times = []
    for i in range(total):
        t0 = time.perf_counter()
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(i))[:batch]
        images = normalize(images_all[idx].to(device))
        step(images, tokens_all[idx].to(device))
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return {"step_s": statistics.median(times[SKIP:]), "steps": total, "setup_s": setup_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--workdir", type=Path, default=Path.cwd())
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--use-gpu", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from components.settings import apply_quiet_env, load_settings

    apply_quiet_env()
    import torch

    from components.stages import TRAIN
    from components.training.checkpoint import HISTORY
    from components.training.ray_trainer import fit, ray_session
    from components.training.stage import build_loop_config
    from components.training.storage import resolve_storage

    overrides = {"train": {"epochs": args.epochs, "checkpoint_every_steps": 1_000_000}}
    settings = load_settings(args.profile, workdir=args.workdir, overrides=overrides)
    loop_config, _, _ = build_loop_config(TRAIN.inputs_of(settings))
    cores = os.cpu_count() or 1
    figures: dict = {"profile": args.profile, "model": settings.model.name, "cores": cores}
    figures["global_batch"] = settings.train.global_batch_size

    torch.set_num_threads(cores)
    device = "cuda" if args.use_gpu else "cpu"
    plain = plain_process(settings, loop_config, device)
    figures["plain"] = {**plain, "threads": cores, "peak_rss_mb": peak_rss_mb()}

    shapes = [(1, args.use_gpu)] if args.use_gpu else [(1, False), (2, False)]
    for workers, gpu in shapes:
        train = settings.train.model_copy(
            update={"num_workers": workers, "cpus_per_worker": 1, "use_gpu": gpu}
        )
        with tempfile.TemporaryDirectory() as tmp:
            storage = resolve_storage(tmp, Path(tmp), Path(tmp), settings.services.s3)
            started = time.perf_counter()
            with ray_session(train, settings.services):
                ray_up = time.perf_counter() - started
                result = fit(loop_config.model_copy(update={"train": train}), storage, "bench")
            wall = time.perf_counter() - started
            with result.checkpoint.as_directory() as ckpt:
                history = json.loads((Path(ckpt) / HISTORY).read_text())
        steps = [h["step_time_s"] for h in history]
        figures[f"ray_{workers}"] = {
            "step_s": statistics.median(steps[SKIP:]),
            "steps": len(steps),
            "wall_s": wall,
            "ray_init_s": ray_up,
            "fixed_cost_s": wall - sum(steps),
            "peak_rss_mb_per_worker": result.metrics["peak_rss_mb"],
            "peak_cuda_mb_per_worker": result.metrics["peak_cuda_mb"],
        }

    batch = figures["global_batch"]
    rate = {k: batch / figures[k]["step_s"] for k in figures if k in ("plain", "ray_1", "ray_2")}
    print(f"\n{settings.model.name}, global batch {batch}, {cores} cores, {device}")
    for key, value in rate.items():
        print(f"  {key:7s} {value:8.1f} samples/s  ({figures[key]['step_s'] * 1e3:.1f} ms/step)")
    if "ray_2" in figures:
        figures["ratio_2_workers_over_1_process"] = rate["ray_2"] / rate["plain"]
        figures["scaling_efficiency"] = figures["ray_1"]["step_s"] / (
            2 * figures["ray_2"]["step_s"]
        )
        print(
            f"  2 Ray workers / 1 process: {figures['ratio_2_workers_over_1_process']:.2f}x; "
            f"scaling efficiency 1 -> 2 workers: {figures['scaling_efficiency']:.0%}"
        )
    else:
        figures["ratio_1_worker_over_1_process"] = rate["ray_1"] / rate["plain"]
        print(f"  1 Ray worker / 1 process: {figures['ratio_1_worker_over_1_process']:.2f}x")
    for key in ("ray_1", "ray_2"):
        if key in figures:
            f = figures[key]
            ratio = f["fixed_cost_s"] / f["step_s"]
            print(
                f"  {key}: fixed cost per fit {f['fixed_cost_s']:.1f} s (= {ratio:.0f} steps; "
                f"ray.init {f['ray_init_s']:.1f} s); peak RSS per worker "
                + ", ".join(f"{m:.0f}" for m in f["peak_rss_mb_per_worker"])
                + " MiB"
            )
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
