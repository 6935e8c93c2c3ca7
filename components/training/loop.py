"""The per-worker training loop that Ray Train runs on every worker.

Data order is a pure function of (seed, epoch): every worker computes the same permutation of
the training set and takes its own contiguous slice of each global batch, so a resumed run sees
exactly the samples an uninterrupted run would, from the checkpointed step on.
"""

from __future__ import annotations

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
    from components.data.reader import images_to_tensor, read_split

    samples = read_split(data_dir, "train", exclude_ids=exclude_ids)
    if not samples:
        raise ValueError(f"no training samples in {data_dir} (after quarantine)")
    images = images_to_tensor([s.image_png for s in samples], image_size)
    captions = [tokenizer(list(s.captions)) for s in samples]
    return TrainData(images, captions)


def batch_indices(
    n: int, step: int, global_batch: int, rank: int, world: int, seed: int
) -> torch.Tensor:
    """This worker's sample indices at a global step (the last partial batch is dropped)."""
    steps_per_epoch = n // global_batch
    epoch, index = divmod(step, steps_per_epoch)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    batch = order[index * global_batch : (index + 1) * global_batch]
    local = global_batch // world
    return batch[rank * local : (rank + 1) * local]


def pick_captions(data: TrainData, indices: torch.Tensor, step: int, seed: int) -> torch.Tensor:
    """One of each image's captions, chosen by a generator seeded with the step: resumable."""
    gen = torch.Generator().manual_seed(seed * 7_919 + step)
    rows = []
    for i in indices.tolist():
        options = data.captions[i]
        rows.append(options[torch.randint(len(options), (1,), generator=gen).item()])
    return torch.stack(rows)  # [B, L]


def train_loop_per_worker(config: dict[str, Any]) -> None:
    import ray.train
    import ray.train.torch
    import torch.distributed as dist

    from components.model.clip import create_model
    from components.model.config import CLIPConfig
    from components.model.init_weights import load_initial_weights
    from components.model.preprocess import normalize
    from components.model.tokenizers import tokenizer_from_dict
    from components.settings import TrainConfig
    from components.training.accumulation import accumulate_gradients
    from components.training.checkpoint import load_checkpoint, save_checkpoint
    from components.training.locking import lock_towers
    from components.training.loss import contrastive_loss
    from components.training.optim import cosine_with_warmup, make_optimizer
    from components.training.progress import StepLogger

    cfg = TrainConfig.model_validate(config["train"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(max(1, int(cfg.cpus_per_worker)))

    tokenizer = tokenizer_from_dict(config["tokenizer"])
    data = load_train_data(
        Path(config["data_dir"]), set(config["exclude_ids"]), cfg.image_size, tokenizer
    )
    n = data.images.shape[0]
    steps_per_epoch = n // cfg.global_batch_size
    total_steps = cfg.epochs * steps_per_epoch

    model = create_model(CLIPConfig.model_validate(config["model_config"]))
    if config.get("init_from"):
        load_initial_weights(model, config["init_from"])
    lock_towers(model, cfg.lock_image_tower, cfg.lock_text_tower)
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: cosine_with_warmup(s, cfg.warmup_steps, total_steps)
    )
    start_step, history = 0, []
    checkpoint = ray.train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as ckpt_dir:
            start_step, history = load_checkpoint(Path(ckpt_dir), model, optimizer, scheduler)
    loss_fn = contrastive_loss(cfg.loss, model)
    ddp_model = ray.train.torch.prepare_model(model)
    device = ray.train.torch.get_device()
    raw_model = model  # the unwrapped module: its state_dict keeps the OpenAI key names

    logger = None
    if rank == 0:
        run_id, uri = config.get("mlflow_run_id"), config.get("tracking_uri")
        logger = StepLogger(run_id, uri, total_steps, cfg.global_batch_size)
    for step in range(start_step, total_steps):
        started = time.perf_counter()
        idx = batch_indices(n, step, cfg.global_batch_size, rank, world, cfg.seed)
        images = normalize(data.images[idx].to(device))  # [B, 3, S, S]
        tokens = pick_captions(data, idx, step, cfg.seed).to(device)  # [B, L]
        optimizer.zero_grad(set_to_none=True)
        if cfg.accum_micro_batches > 1:
            no_sync = getattr(ddp_model, "no_sync", None)  # DDP: one all-reduce per step
            loss = accumulate_gradients(
                ddp_model, loss_fn, images, tokens, cfg.accum_micro_batches, no_sync
            )
        else:
            loss = loss_fn(*ddp_model(images, tokens))
            loss.backward()
        torch.nn.utils.clip_grad_norm_(ddp_model.parameters(), cfg.grad_clip_norm)
        optimizer.step()
        scheduler.step()
        raw_model.clamp_logit_scale()

        global_loss = loss.detach().clone()
        if dist.is_initialized():
            dist.all_reduce(global_loss)  # the mean of the local losses is the global loss
            global_loss /= world
        record = {
            "step": step + 1,
            "epoch": step // steps_per_epoch,
            "loss": float(global_loss),
            "lr": scheduler.get_last_lr()[0],
            "logit_scale": float(raw_model.logit_scale.detach().exp()),
            "step_time_s": time.perf_counter() - started,
        }
        history.append(record)
        if logger:
            logger.log(record)

        done = step + 1 == total_steps
        if done or (step + 1) % cfg.checkpoint_every_steps == 0:
            metrics = {"step": step + 1, "loss": record["loss"]}
            with tempfile.TemporaryDirectory() as tmp:
                ckpt = None
                if rank == 0:  # one writer; the other ranks hold the same weights
                    save_checkpoint(Path(tmp), raw_model, optimizer, scheduler, step + 1, history)
                    ckpt = ray.train.Checkpoint.from_directory(tmp)
                ray.train.report(metrics, checkpoint=ckpt)
    if logger:
        logger.close()
