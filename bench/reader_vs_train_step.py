"""Does the streaming ingest keep up with training? The samples/s one worker's Ray Data stream
delivers (read, decode, crop, tokenize on its `train.data_cpus_per_worker` reserved CPUs, then
the shuffle window and local batches: training's own path) over a full pass, against the
samples/s one worker's training step consumes, in one process run; printed as a ratio (goal
>= 5). Then, from the last training run in the workdir (artifacts/train/history.csv), the
fraction of step time the workers waited on data (goal < 5%).

    .venv/bin/python bench/reader_vs_train_step.py [--profile default] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time


def ingest_samples_per_s(settings, repeats: int) -> tuple[float, int]:
    import ray

    from components.stages import TRAIN
    from components.training.ray_ingest import stream
    from components.training.shuffle_window import local_batches
    from components.training.stage import build_loop_config

    loop, _, _ = build_loop_config(TRAIN.inputs_of(settings))
    cfg = loop.train
    one_pass = loop.model_copy(update={"train": cfg.model_copy(update={"epochs": 1})})
    plan = one_pass.stream_plan(cfg.num_workers)
    rates, n = [], 0
    ray.init(num_cpus=cfg.data_cpus_per_worker, include_dashboard=False, log_to_driver=False)
    try:
        for _ in range(repeats):
            started = time.perf_counter()
            rows = stream(
                loop.corpus, plan.window_pieces(0, 0), loop.excluded(), loop.transform(),
                loop.tokenizer, cfg.seed, cfg.data_cpus_per_worker,
            )  # fmt: skip
            n = sum(len(b["tokens"]) for _, b, _ in local_batches(plan, 0, 0, rows))
            rates.append(n / (time.perf_counter() - started))
    finally:
        ray.shutdown()
    return statistics.median(rates), n


def waited_fraction(settings) -> float | None:
    """Seconds the steps waited on data over the seconds they took, in the last run's history."""
    import csv

    from components.artifacts import TRAINING_HISTORY

    path = TRAINING_HISTORY.path(settings.paths.workdir)
    if not path.is_file():
        return None
    rows = list(csv.DictReader(path.open()))
    if not rows or "data_wait_s" not in rows[0]:
        return None
    waited = sum(float(r["data_wait_s"]) for r in rows)
    return waited / (waited + sum(float(r["step_time_s"]) for r in rows))


def train_step_samples_per_s(settings, repeats: int, steps: int = 10) -> tuple[float, int]:
    import torch

    from components.model.clip import create_model
    from components.training.loss import clip_loss
    from components.training.optim import make_optimizer

    torch.manual_seed(0)
    batch = settings.train.global_batch_size // settings.train.num_workers  # one worker's share
    model = create_model(settings.model.name)
    optimizer = make_optimizer(model, settings.train.lr, settings.train.weight_decay)
    size, cfg = model.config.vision_cfg.image_size, model.config.text_cfg
    images = torch.randn(batch, 3, size, size)
    tokens = torch.randint(1, cfg.vocab_size - 2, (batch, cfg.context_length))
    tokens[:, -1] = cfg.vocab_size - 1

    def step() -> None:
        loss = clip_loss(*model(images, tokens))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(steps * batch / (time.perf_counter() - started))
    return statistics.median(rates), batch


def main() -> None:
    from components.settings import load_settings

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--profile", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", default=None, help="where data/ and artifacts/ are")
    args = parser.parse_args()
    settings = load_settings(args.profile, workdir=args.workdir)
    if not (settings.paths.data / "manifest.parquet").is_file():
        raise SystemExit(f"no corpus in {settings.paths.data}: run `clip-pipeline data build`")
    import torch

    torch.set_num_threads(max(1, int(settings.train.cpus_per_worker)))  # as one Ray worker
    reader, n = ingest_samples_per_s(settings, args.repeats)
    train, batch = train_step_samples_per_s(settings, args.repeats)
    cpus = settings.train.data_cpus_per_worker
    print(f"profile {settings.profile}, model {settings.model.name}, {n} samples per worker")
    print(f"ingest:     {reader:10.0f} samples/s into one worker ({cpus} Ray Data CPU)")
    print(f"train step: {train:10.0f} samples/s (batch {batch}, {torch.get_num_threads()} thread)")
    print(f"ratio ingest/train: {reader / train:.1f} (goal >= 5)")
    waited = waited_fraction(settings)
    if waited is not None:
        print(f"last run in this workdir: {waited:.1%} of step time waited on data (goal < 5%)")


if __name__ == "__main__":
    main()
