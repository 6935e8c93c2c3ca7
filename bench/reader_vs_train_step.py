"""Does the shard reader keep up with training? Decoded, preprocessed samples/s it delivers,
against the samples/s one training step consumes, in one process run; printed as a ratio.

    .venv/bin/python bench/reader_vs_train_step.py [--profile default] [--repeats 3]

A ratio above 1 means one reader thread feeds one training worker faster than it trains.
"""

from __future__ import annotations

import argparse
import statistics
import time


def _model_image_size(settings) -> int:
    from components.model.config import load_config

    return load_config(settings.model.name).vision_cfg.image_size


def reader_samples_per_s(settings, repeats: int) -> tuple[float, int]:
    from components.data.corpus.reader import images_to_tensor, read_split
    from components.model.preprocess import normalize

    rates, n = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        samples = read_split(settings.paths.data, "train")  # tar members -> bytes
        pngs = [s.image_png for s in samples]
        images = normalize(images_to_tensor(pngs, _model_image_size(settings)))
        rates.append(len(images) / (time.perf_counter() - started))
        n = len(images)
    return statistics.median(rates), n


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
    args = parser.parse_args()
    settings = load_settings(args.profile)
    if not (settings.paths.data / "manifest.parquet").is_file():
        raise SystemExit(f"no corpus in {settings.paths.data}: run `clip-pipeline data build`")
    import torch

    torch.set_num_threads(max(1, int(settings.train.cpus_per_worker)))  # as one Ray worker
    reader, n = reader_samples_per_s(settings, args.repeats)
    train, batch = train_step_samples_per_s(settings, args.repeats)
    print(f"profile {settings.profile}, model {settings.model.name}, {n} train samples")
    print(f"reader:     {reader:10.0f} decoded+preprocessed samples/s (1 thread)")
    print(f"train step: {train:10.0f} samples/s (batch {batch}, {torch.get_num_threads()} thread)")
    print(f"ratio reader/train: {reader / train:.1f}")


if __name__ == "__main__":
    main()
