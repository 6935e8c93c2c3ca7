"""Rank 0's view of training: a live progress line and per-step metrics in MLflow."""

from __future__ import annotations

import sys
import time
from typing import Any


class StepLogger:
    """Prints `step, loss, samples/s, ETA` about 20 times a run and batches metrics to MLflow."""

    def __init__(
        self,
        run_id: str | None,
        tracking_uri: str | None,
        total_steps: int,
        global_batch: int,
        flush_every: int = 10,
    ):
        self.run_id, self.total, self.batch = run_id, total_steps, global_batch
        self.flush_every = flush_every
        self.print_every = max(1, total_steps // 20)
        self.pending: list[Any] = []
        self.started = time.perf_counter()
        self.first_step: int | None = None
        self.client = None
        if run_id:
            from mlflow import MlflowClient

            self.client = MlflowClient(tracking_uri)

    def log(self, record: dict[str, float]) -> None:
        step = int(record["step"])
        if self.first_step is None:
            self.first_step, self.started = step - 1, time.perf_counter() - record["step_time_s"]
        elapsed = time.perf_counter() - self.started
        done = step - self.first_step
        samples_per_s = done * self.batch / max(elapsed, 1e-9)
        if self.client:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            values = {k: v for k, v in record.items() if k not in ("step", "epoch")}
            values["samples_per_s"] = samples_per_s
            self.pending += [Metric(f"train/{k}", float(v), now, step) for k, v in values.items()]
            if step % self.flush_every == 0 or step == self.total:
                self.flush()
        if step % self.print_every == 0 or step == self.total:
            eta = (self.total - step) * elapsed / max(done, 1)
            print(
                f"[train] step {step}/{self.total}  loss {record['loss']:.4f}  "
                f"{samples_per_s:.0f} samples/s  ETA {eta:.0f}s",
                file=sys.__stdout__,  # not Ray Train's patched stdout, which prints twice
                flush=True,
            )

    def flush(self) -> None:
        if self.client and self.pending:
            self.client.log_batch(self.run_id, metrics=self.pending)
            self.pending = []

    def close(self) -> None:
        self.flush()
