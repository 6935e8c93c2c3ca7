"""Rank 0's view of training: a live progress line; step and system metrics in MLflow."""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def _say(text: str) -> None:
    # not Ray Train's patched stdout, which prints twice
    print(text, file=sys.__stdout__, flush=True)


class StepLogger:
    """Prints `step, loss, samples/s, ETA` about 20 times a run and batches metrics to MLflow."""

    def __init__(
        self,
        run_id: str | None,
        tracking_uri: str | None,
        total_steps: int,
        global_batch: int,
        flush_every: int = 10,
        system_metrics_interval_s: float | None = None,
    ):
        self.run_id, self.total, self.batch = run_id, total_steps, global_batch
        self.flush_every = flush_every
        self.print_every = max(1, total_steps // 20)
        self.pending: list[Any] = []
        self.started = time.perf_counter()
        self.first_step: int | None = None
        self.waited_s = 0.0  # on data, over the run (rank 0's view of the slowest rank)
        self.client = None
        self.system_monitor = None
        self.tracking_uri = tracking_uri
        self.system_metrics_interval_s = system_metrics_interval_s
        if run_id:
            from mlflow import MlflowClient

            self.client = MlflowClient(tracking_uri)

    def start(self, worker_nodes: list[str], position: Any) -> None:
        """Tag where the workers run, note a resume, start the system-metrics sampler."""
        if position.step:
            _say(
                f"[train] resumed at step {position.step}/{self.total} (epoch {position.epoch}, "
                f"data pass {position.data_pass}, {position.samples_seen} samples seen)"
            )
        if not self.client:
            return
        from mlflow.entities import Metric, RunTag

        tags = [
            RunTag("ray.worker_nodes", json.dumps(worker_nodes)),
            RunTag("ray.num_nodes", str(len(set(worker_nodes)))),
            RunTag("ray.num_workers", str(len(worker_nodes))),
        ]
        metrics = []
        if position.step:
            now = int(time.time() * 1000)
            metrics.append(Metric("train/resumed_from_step", position.step, now, position.step))
        self.client.log_batch(self.run_id, metrics=metrics, tags=tags)
        if self.system_metrics_interval_s:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            self.system_monitor = SystemMetricsMonitor(
                self.run_id,
                sampling_interval=self.system_metrics_interval_s,
                resume_logging=True,  # a resumed run continues the system/ step count
                tracking_uri=self.tracking_uri,
            )
            self.system_monitor.start()

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
            values = {k: v for k, v in record.items() if k not in ("step", "epoch", "data_wait_s")}
            values["samples_per_s"] = samples_per_s
            self.waited_s += record.get("data_wait_s", 0.0)
            ingest = {  # what Ray Data delivered, and how long the step waited for it
                "samples_per_s": samples_per_s,
                "wait_s": record.get("data_wait_s", 0.0),
                "wait_fraction": self.waited_s / max(elapsed, 1e-9),
            }
            self.pending += [Metric(f"train/{k}", float(v), now, step) for k, v in values.items()]
            self.pending += [Metric(f"data/{k}", float(v), now, step) for k, v in ingest.items()]
            if step % self.flush_every == 0 or step == self.total:
                self.flush()
        if step % self.print_every == 0 or step == self.total:
            eta = (self.total - step) * elapsed / max(done, 1)
            _say(
                f"[train] step {step}/{self.total}  loss {record['loss']:.4f}  "
                f"{samples_per_s:.0f} samples/s  ETA {eta:.0f}s"
            )

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        """Other figures of `step` (the zero-shot probe's), sent with the next batch."""
        if self.client:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            self.pending += [Metric(k, float(v), now, step) for k, v in values.items()]
            self.flush()
        shown = "  ".join(f"{k.rpartition('/')[2]} {v:.1%}" for k, v in values.items())
        _say(f"[train] step {step}/{self.total}  {shown}")

    def log_peak_memory(self, peak: list[list[float]], step: int) -> None:
        """Per worker: peak resident memory and peak CUDA memory (MiB)."""
        if not self.client:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        for rank, (rss, cuda) in enumerate(peak):
            self.pending.append(Metric(f"train/peak_rss_mb_rank{rank}", rss, now, step))
            if cuda:
                self.pending.append(Metric(f"train/peak_cuda_mb_rank{rank}", cuda, now, step))

    def flush(self) -> None:
        if self.client and self.pending:
            self.client.log_batch(self.run_id, metrics=self.pending)
            self.pending = []

    def close(self) -> None:
        self.flush()
        if self.system_monitor:
            self.system_monitor.finish()
