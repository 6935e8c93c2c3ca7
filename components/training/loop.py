"""The per-worker training loop that Ray Train runs on every worker.

Every worker streams its own planned shards through Ray Data (components/training/ray_ingest.py)
and takes equal local batches of each global contrastive batch. The data order is a pure
function of (seed, pass, world, the manifest's shard counts), so a resumed run sees exactly the
samples an uninterrupted run would from the checkpointed step on (docs/streaming.md).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch


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
    from components.training.locking import lock_towers
    from components.training.starting_weights import load_starting_weights

    cfg = loop.train
    model = create_model(loop.model, loop.data_cache)
    if loop.init_from:
        load_starting_weights(model, loop.init_from, loop.tracking_uri)
    lock_towers(model, cfg.lock_image_tower, cfg.lock_text_tower)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)  # conv weights NHWC
    ddp_model = ray.train.torch.prepare_model(model)  # moves `model` to the device, then DDP
    return model, ddp_model, ray.train.torch.get_device()


def _text_cache(model, cfg):  # -> LockedTextCache | None
    """A locked text tower's features by caption (train.text_cache_entries; 0: none)."""
    if not (cfg.lock_text_tower and cfg.text_cache_entries):
        return None
    from components.training.text_cache import LockedTextCache

    return LockedTextCache(model, cfg.text_cache_entries)


def _resumed(model, optimizer, scheduler, plan):  # StreamPlan -> (DataPosition, history)
    """Where this run starts: step 0, or the last checkpoint's position, weights and state."""
    import ray.train

    from components.training.checkpoint import DataPosition, load_checkpoint

    position, history = DataPosition.at(0, plan), []
    checkpoint = ray.train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as ckpt_dir:
            position, history = load_checkpoint(Path(ckpt_dir), model, optimizer, scheduler)
        position.check_compatible(DataPosition.at(position.step, plan))
    return position, history


def _checkpointed_step() -> int:
    """The step the latest checkpoint continues from (0 without one), weights not loaded."""
    import ray.train

    from components.training.checkpoint import checkpointed_step

    checkpoint = ray.train.get_checkpoint()
    if not checkpoint:
        return 0
    with checkpoint.as_directory() as ckpt_dir:
        return checkpointed_step(Path(ckpt_dir))


def _report_checkpoint(step_fn, record: dict, history: list, plan, rank: int, logger):
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
    after = DataPosition.at(record["step"], plan)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = None
        if rank == 0:  # one writer; the other ranks hold the same weights
            model, optimizer, scheduler = step_fn.model, step_fn.optimizer, step_fn.scheduler
            save_checkpoint(Path(tmp), model, optimizer, scheduler, after, history)
            ckpt = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report(metrics, checkpoint=ckpt)


def _data_stream(loop, plan, rank: int, start_step: int):
    """(step, images uint8 [B, S, S, 3], tokens [B, L], seconds waited) from `start_step` on."""
    from components.training.ray_ingest import stream
    from components.training.shuffle_window import local_batches

    windows = plan.window_pieces(rank, start_step)
    cfg = loop.train
    rows = stream(
        loop.corpus,
        windows,
        loop.excluded(),
        loop.transform(),
        loop.tokenizer,
        cfg.seed,
        cfg.data_cpus_per_worker,
        name=f"clip-ingest-{loop.mlflow_run_id or 'run'}-rank{rank}",
        captions=loop.captions(),
        rows_per_read=loop.buffer_rows(),
    )
    batches = local_batches(plan, rank, start_step, rows)  # `stream` has started reading
    return ((step, b["image"], b["tokens"], waited) for step, b, waited in batches)


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """`config`: {"loop": LoopConfig}, as ray_trainer.fit hands it over."""
    import ray.train
    import torch.distributed as dist

    from components.model.preprocess import normalize
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

    plan = loop.stream_plan(world)
    total_steps = plan.total_steps
    # the data stream starts reading its first window now, while the model is built and the
    # checkpoint restored: that first read is most of the time a step ever waits on data
    start = _checkpointed_step()
    stream = _data_stream(loop, plan, rank, start)

    model, ddp_model, device = _prepared_model(loop)
    # the optimiser and a restored state live on the device the parameters now have
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: cosine_with_warmup(s, cfg.warmup_steps, total_steps)
    )
    position, history = _resumed(model, optimizer, scheduler, plan)
    if position.step != start:
        raise RuntimeError(f"the checkpoint said step {start}, then {position.step}")
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
        text_cache=_text_cache(model, cfg),
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
    probe = None
    if rank == 0 and loop.probe is not None:
        from components.model.tokenizers import tokenizer_from_dict
        from components.training.zeroshot_probe import ZeroShotProbe

        probe = ZeroShotProbe(loop.probe, tokenizer_from_dict(loop.tokenizer), loop.image_size)
    for step, pixels, token_ids, waited in stream:
        started = time.perf_counter()
        images = torch.from_numpy(pixels).to(device).permute(0, 3, 1, 2)  # [B, 3, S, S]
        images = normalize(images.contiguous())
        tokens = torch.from_numpy(token_ids).to(device)  # [B, L]
        loss = step_fn(images, tokens)

        global_loss = loss.detach().clone()
        wait = torch.tensor([waited], device=global_loss.device)  # NCCL reduces device tensors
        if dist.is_initialized():
            dist.all_reduce(global_loss)  # the mean of the local losses is the global loss
            global_loss /= world
            dist.all_reduce(wait, op=dist.ReduceOp.MAX)  # the slowest rank holds everyone
        record = {
            "step": step + 1,
            "epoch": plan.epoch_of(step),
            "loss": float(global_loss),
            "lr": scheduler.get_last_lr()[0],
            "logit_scale": float(model.logit_scale.detach().exp()),
            "step_time_s": time.perf_counter() - started,
            "data_wait_s": float(wait),
        }
        history.append(record)
        if logger:
            logger.log(record)
            if probe is not None and probe.due(step + 1, total_steps):
                logger.log_metrics(probe.measure(model), step + 1)
        if step + 1 == total_steps or (step + 1) % cfg.checkpoint_every_steps == 0:
            _report_checkpoint(step_fn, record, history, plan, rank, logger)
    if logger:
        logger.close()
