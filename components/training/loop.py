"""The per-worker training loop that Ray Train runs on every worker.

Data order is a pure function of (seed, epoch): every worker computes the same permutation of
the training set and takes its own contiguous slice of each global batch, so a resumed run sees
exactly the samples an uninterrupted run would, from the checkpointed step on.
"""

from __future__ import annotations

import functools
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True)
class TrainData:
    images: torch.Tensor  # uint8 [N, 3, S, S]
    captions: list[torch.Tensor]  # per sample: long [C_i, L], every caption tokenised


def load_train_data(data_dir: Path, exclude_ids: set[str], image_size: int, tokenizer) -> TrainData:
    from components.data.corpus.reader import images_to_tensor, read_split

    samples = read_split(data_dir, "train", exclude_ids=exclude_ids)
    if not samples:
        raise ValueError(f"no training samples in {data_dir} (after quarantine)")
    images = images_to_tensor([s.image_png for s in samples], image_size)
    captions = [tokenizer(list(s.captions)) for s in samples]
    return TrainData(images, captions)


@functools.lru_cache(maxsize=1)
def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of the training set in `epoch`: drawn once per epoch, not at every step
    (randperm of 10M indices takes about half a second)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def batch_indices(
    n: int, step: int, global_batch: int, rank: int, world: int, seed: int
) -> torch.Tensor:
    """This worker's sample indices at a global step (the last partial batch is dropped)."""
    steps_per_epoch = n // global_batch
    epoch, index = divmod(step, steps_per_epoch)
    order = epoch_order(n, seed, epoch)
    batch = order[index * global_batch : (index + 1) * global_batch]
    local = global_batch // world
    return batch[rank * local : (rank + 1) * local].clone()  # not a view of the cached order


def pick_captions(data: TrainData, indices: torch.Tensor, step: int, seed: int) -> torch.Tensor:
    """One of each image's captions, chosen by a generator seeded with the step: resumable."""
    gen = torch.Generator().manual_seed(seed * 7_919 + step)
    rows = []
    for i in indices.tolist():
        options = data.captions[i]
        rows.append(options[torch.randint(len(options), (1,), generator=gen).item()])
    return torch.stack(rows)  # [B, L]


def _gather(value: Any) -> list[Any]:
    """Every rank's `value`, in rank order (just this one's outside a process group)."""
    import torch.distributed as dist

    if not dist.is_initialized():
        return [value]
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, value)
    return parts


def _peak_memory_mb(device: torch.device) -> list[float]:
    """[peak resident set size, peak CUDA memory allocated] of this process, in MiB."""
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    cuda = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else 0.0
    return [rss, cuda]


def _quiet_report_lines() -> None:
    """Ray Train logs every report (metrics and all) at INFO under a logger named after its
    source file, which LoggingConfig does not reach; the progress line says the same."""
    import logging

    try:
        from ray.train.v2._internal.execution import context
    except ImportError:  # another Ray layout: keep its default logging
        return
    logging.getLogger(context.__file__).setLevel(logging.WARNING)


def _prepared_model(loop):  # LoopConfig -> (CLIP, its DDP wrapper, device)
    """The model as every worker starts it: created (the seeded initialisation), its starting
    weights, the locked towers, NHWC when asked, moved to the device and wrapped in DDP."""
    import ray.train.torch

    from components.model.clip import create_model
    from components.model.init_weights import load_initial_weights
    from components.training.locking import lock_towers

    cfg = loop.train
    model = create_model(loop.model, loop.data_cache)
    if loop.init_from:
        load_initial_weights(model, loop.init_from)
    lock_towers(model, cfg.lock_image_tower, cfg.lock_text_tower)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)  # conv weights NHWC
    ddp_model = ray.train.torch.prepare_model(model)  # moves `model` to the device, then DDP
    return model, ddp_model, ray.train.torch.get_device()


def _resumed(model, optimizer, scheduler, n: int, cfg):  # -> (DataPosition, history)
    """Where this run starts: step 0, or the last checkpoint's position, weights and state."""
    import ray.train

    from components.training.checkpoint import DataPosition, load_checkpoint

    position, history = DataPosition.at(0, n, cfg.global_batch_size, cfg.seed), []
    checkpoint = ray.train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as ckpt_dir:
            position, history = load_checkpoint(Path(ckpt_dir), model, optimizer, scheduler)
        position.check_compatible(n, cfg.global_batch_size, cfg.seed)
    return position, history


def _report_checkpoint(step_fn, record: dict, history: list, n: int, cfg, rank: int, logger):
    # step_fn: the TrainStep, whose model, optimiser and scheduler are checkpointed
    """After `record`'s step: peak memory of every rank into the metrics (and MLflow), and the
    weights, optimiser and data position as a Ray checkpoint written by rank 0."""
    import ray.train

    from components.training.checkpoint import DataPosition, save_checkpoint

    device = next(step_fn.model.parameters()).device  # where prepare_model put it
    peak = _gather(_peak_memory_mb(device))  # [rank][rss MiB, CUDA MiB]
    metrics = {
        "step": record["step"],
        "loss": record["loss"],
        "peak_rss_mb": [p[0] for p in peak],
        "peak_cuda_mb": [p[1] for p in peak],
    }
    if logger:  # what is in MLflow survives a crash from here on, like the weights
        logger.log_peak_memory(peak, record["step"])
        logger.flush()
    after = DataPosition.at(record["step"], n, cfg.global_batch_size, cfg.seed)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = None
        if rank == 0:  # one writer; the other ranks hold the same weights
            model, optimizer, scheduler = step_fn.model, step_fn.optimizer, step_fn.scheduler
            save_checkpoint(Path(tmp), model, optimizer, scheduler, after, history)
            ckpt = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report(metrics, checkpoint=ckpt)


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """`config`: {"loop": LoopConfig}, as ray_trainer.fit hands it over."""
    import ray.train
    import torch.distributed as dist

    from components.model.preprocess import normalize
    from components.model.tokenizers import tokenizer_from_dict
    from components.training.loss import contrastive_loss
    from components.training.optim import cosine_with_warmup, make_optimizer
    from components.training.progress import StepLogger
    from components.training.step import TrainStep, configure_determinism, resolve_precision

    _quiet_report_lines()
    loop = config["loop"]
    cfg = loop.train
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    configure_determinism(cfg.deterministic, cfg.seed)
    torch.set_num_threads(max(1, int(cfg.cpus_per_worker)))

    tokenizer = tokenizer_from_dict(loop.tokenizer)
    data = load_train_data(loop.data_dir, set(loop.exclude_ids), loop.image_size, tokenizer)
    n = data.images.shape[0]
    steps_per_epoch = n // cfg.global_batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{n} training samples cannot fill one batch of {cfg.global_batch_size}")
    total_steps = cfg.epochs * steps_per_epoch

    model, ddp_model, device = _prepared_model(loop)
    # the optimiser and a restored state live on the device the parameters now have
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: cosine_with_warmup(s, cfg.warmup_steps, total_steps)
    )
    position, history = _resumed(model, optimizer, scheduler, n, cfg)
    forward = torch.compile(ddp_model) if cfg.compile else ddp_model
    step_fn = TrainStep(
        model,
        forward,
        optimizer,
        scheduler,
        contrastive_loss(cfg.loss, model),
        precision=resolve_precision(cfg.precision, device.type == "cuda"),
        grad_clip_norm=cfg.grad_clip_norm,
        accum_micro_batches=cfg.accum_micro_batches,
        channels_last=cfg.channels_last,
    )

    nodes = _gather(ray.get_runtime_context().get_node_id())  # per rank: where it runs
    logger = None
    if rank == 0:
        logger = StepLogger(
            loop.mlflow_run_id,
            loop.tracking_uri,
            total_steps,
            cfg.global_batch_size,
            system_metrics_interval_s=cfg.system_metrics_interval_s,
        )
        logger.start(nodes, position)
    for step in range(position.step, total_steps):
        started = time.perf_counter()
        idx = batch_indices(n, step, cfg.global_batch_size, rank, world, cfg.seed)
        images = normalize(data.images[idx].to(device))  # [B, 3, S, S]
        tokens = pick_captions(data, idx, step, cfg.seed).to(device)  # [B, L]
        loss = step_fn(images, tokens)

        global_loss = loss.clone()
        if dist.is_initialized():
            dist.all_reduce(global_loss)  # the mean of the local losses is the global loss
            global_loss /= world
        record = {
            "step": step + 1,
            "epoch": step // steps_per_epoch,
            "loss": float(global_loss),
            "lr": scheduler.get_last_lr()[0],
            "logit_scale": float(model.logit_scale.detach().exp()),
            "step_time_s": time.perf_counter() - started,
        }
        history.append(record)
        if logger:
            logger.log(record)
        if step + 1 == total_steps or (step + 1) % cfg.checkpoint_every_steps == 0:
            _report_checkpoint(step_fn, record, history, n, cfg, rank, logger)
    if logger:
        logger.close()
