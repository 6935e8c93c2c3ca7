"""Peak memory and throughput of a training worker's data stream at N and 16N samples.

Writes synthetic corpora (JPEG images with captions, WebDataset shards of 1,000 samples, a
manifest), then, in one process run and one local Ray per size, runs the streaming ingest of
every worker exactly as training does (the plan, Ray Data's read + map_batches, the shuffle
window, the local batches) over a full pass, in `world` Ray actors of 1 CPU. Prints, per size:
peak private RSS per worker (MiB: resident minus shared, sampled every 50 ms; the object store's
shared pages that a reader maps are not the worker's), samples/s; then RSS(16N)/RSS(N)
(goal <= 1.10) and the throughput ratio (goal >= 0.9).

    python bench/train_memory_vs_corpus.py                  # 4k/64k at 64 px, 2k/32k at 224 px
    python bench/train_memory_vs_corpus.py --sizes 4000:64  # one pair
    (--buffer-mb: the shuffle window, 8 MiB by default so that N already fills whole windows)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHARD = 1000
WORDS = "red blue green cat dog tree car house sun moon star fish bird cup hat".split()


def _image(rng: np.random.Generator, side: int) -> bytes:
    """A smooth picture (two gradients and a disc) as a JPEG: a realistic few KB, not noise."""
    from PIL import Image

    y, x = np.mgrid[0:side, 0:side] / side
    colours = rng.integers(0, 256, size=(3, 3))
    pixels = colours[0] * x[..., None] + colours[1] * y[..., None]
    cy, cx, r = rng.uniform(0.2, 0.8, 3) * (1, 1, 0.4)
    disc = (x - cx) ** 2 + (y - cy) ** 2 < r**2
    pixels[disc] = colours[2]
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def write_corpus(root: Path, n: int, side: int, seed: int = 0) -> None:
    from components.data.corpus.manifest import write_manifest
    from components.data.corpus.webdataset import write_shard

    rng = np.random.default_rng(seed)
    (root / "shards").mkdir(parents=True)
    rows = []
    for first in range(0, n, SHARD):
        shard = f"shards/train-{first // SHARD:05d}.tar"
        samples = {}
        for i in range(first, min(n, first + SHARD)):
            key = f"s{i:08d}"
            caption = "a photo of a " + " ".join(rng.choice(WORDS, 3))
            image = _image(rng, side)
            meta = {"id": key, "concept": "synthetic", "captions": [caption]}
            samples[key] = {
                "jpg": image,
                "json": json.dumps(meta).encode(),
                "txt": caption.encode(),
            }
            rows.append(
                {"id": key, "split": "train", "source": "synthetic", "license": "CC0",
                 "code": key, "concept": "synthetic", "caption": caption, "captions": [caption],
                 "shard": shard, "key": key, "image_sha256": "", "width": side, "height": side,
                 "n_bytes": len(image), "caption_chars": len(caption)}
            )  # fmt: skip
        write_shard(root / shard, samples)
    write_manifest(rows, root / "manifest.parquet")


def _worker_class():
    import ray

    @ray.remote(num_cpus=1)
    class IngestWorker:
        """One training worker's data path, without the model: what its memory holds."""

        def run(self, corpus: str, counts: dict, rank: int, world: int, batch: int, size: int,
                tok: dict, mb: float):  # fmt: skip
            import threading

            import psutil

            from components.data.corpus.location import CorpusLocation
            from components.model.preprocess import train_transform
            from components.training.ray_ingest import stream
            from components.training.shard_plan import StreamPlan
            from components.training.shuffle_window import local_batches

            def private_mb() -> float:  # resident and not shared: the object store's pages,
                info = psutil.Process().memory_info()  # mapped by every reader, do not count
                return (info.rss - info.shared) / 2**20

            window = int(mb * 2**20) // (3 * size * size)  # as train.shuffle_buffer_mb
            plan = StreamPlan(counts, 0, world, batch, 1, None, window)
            before, peak, done = private_mb(), [0.0], threading.Event()

            def sample() -> None:
                while not done.is_set():
                    peak[0] = max(peak[0], private_mb())
                    done.wait(0.05)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            started = time.perf_counter()
            windows = plan.window_pieces(rank, 0)
            rows = stream(
                CorpusLocation.of(corpus), windows, {}, train_transform(size, None), tok, 0
            )
            samples, total, quarters = 0, plan.pass_rows(0), []
            for _, local, _ in local_batches(plan, rank, 0, rows):
                samples += len(local["tokens"])
                if samples * 4 >= total * (len(quarters) + 1):  # the peak so far, per quarter
                    quarters.append(round(peak[0], 1))
            seconds = time.perf_counter() - started
            done.set()
            sampler.join()
            return {
                "rss_mb": peak[0],
                "rss_before_mb": before,
                "samples": samples,
                "s": seconds,
                "window": plan.window,
                "quarters": quarters,
            }

    return IngestWorker


class RaySampler:
    """Peak of the summed RSS of every Ray process of this session (workers, Ray Data's
    coordinator actors and read tasks), sampled every 0.2 s: memory outside the workers too."""

    def __init__(self) -> None:
        import threading

        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for proc in psutil.process_iter(["cmdline", "ppid"]):
                cmd = proc.info.get("cmdline") or []
                if cmd and cmd[0].startswith("ray::"):
                    try:
                        total += proc.memory_info().rss - proc.memory_info().shared
                    except psutil.Error:
                        pass
            self.peak_mb = max(self.peak_mb, total / 2**20)
            self._stop.wait(0.2)

    def __enter__(self) -> RaySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def measure(corpus: Path, size: int, world: int, batch: int, mb: float) -> dict:
    import ray

    from components.data.corpus.manifest import shard_index, split_captions
    from components.model.config import load_config
    from components.model.tokenizers import build_tokenizer

    # what the driver hands the workers (LoopConfig.shards): not read in the measured workers
    counts = {shard: kept for shard, (kept, _) in shard_index(corpus, "train").items()}
    text_cfg = load_config("clip-tiny").text_cfg
    tokenizer = build_tokenizer("word", split_captions(corpus, "train"), text_cfg, Path("."))
    ray.init(
        num_cpus=world + (os.cpu_count() or 1),
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}},
    )
    try:
        worker = _worker_class()
        actors = [worker.remote() for _ in range(world)]
        started = time.perf_counter()
        with RaySampler() as sampler:
            results = ray.get(
            [a.run.remote(str(corpus), counts, r, world, batch, size, tokenizer.to_dict(), mb)
             for r, a in enumerate(actors)]
            )  # fmt: skip
        wall = time.perf_counter() - started
    finally:
        ray.shutdown()
    samples = sum(r["samples"] for r in results)
    return {
        "rss_mb": max(r["rss_mb"] for r in results),
        "rss_before_mb": max(r["rss_before_mb"] for r in results),
        "ray_total_mb": sampler.peak_mb,
        "samples_per_s": samples / wall,
        "samples": samples,
        "window": results[0]["window"],
        "quarters": [max(q) for q in zip(*(r["quarters"] for r in results), strict=False)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["4000:64", "2000:224"], help="N:side")
    parser.add_argument("--factor", type=int, default=16)
    parser.add_argument("--world", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    # a window smaller than N's share per worker, so N and 16N both hold full windows: what
    # is left to grow with the corpus is then anything but the window
    parser.add_argument("--buffer-mb", type=float, default=8.0)
    args = parser.parse_args()
    lines = []
    for pair in args.sizes:
        n, side = (int(v) for v in pair.split(":"))
        figures = {}
        with tempfile.TemporaryDirectory(prefix="bench-corpus-") as tmp:
            for count in (n, n * args.factor):
                root = Path(tmp) / f"n{count}"
                t0 = time.perf_counter()
                write_corpus(root, count, side)
                print(
                    f"[bench] wrote {count} samples at {side} px "
                    f"in {time.perf_counter() - t0:.0f} s"
                )
                figures[count] = measure(root, side, args.world, args.batch, args.buffer_mb)
                f = figures[count]
                print(
                    f"[bench] N={count:>6} side={side} window={f['window']}: peak private RSS "
                    f"per worker {f['rss_mb']:.0f} MiB "
                    f"(after start {f['rss_before_mb']:.0f}); all Ray processes, private "
                    f"{f['ray_total_mb']:.0f} MiB; {f['samples_per_s']:.0f} samples/s; worker "
                    f"peak after each quarter of the pass {f['quarters']} MiB"
                )
        small, big = figures[n], figures[n * args.factor]
        lines.append(
            f"side {side}: RSS({args.factor}N)/RSS(N) = {big['rss_mb'] / small['rss_mb']:.3f} "
            f"(goal <= 1.10); all Ray processes {big['ray_total_mb'] / small['ray_total_mb']:.3f}; "
            f"throughput {args.factor}N/N = "
            f"{big['samples_per_s'] / small['samples_per_s']:.2f} (goal >= 0.9)"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
