"""Ray TorchTrainer (Train V2) wiring: a local Ray by default, a cluster when the settings name
one (RAY_ADDRESS, read with them)."""

from __future__ import annotations

import os
from contextlib import contextmanager

from components.settings import Services, TrainConfig
from components.training.loop_config import LoopConfig
from components.training.storage import RunStorage


def dashboard_port(preferred: int = 8265) -> int:
    """Ray's usual dashboard port when free, else any free one (another Ray runs here)."""
    import socket

    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
                return probe.getsockname()[1]
            except OSError:
                continue
    raise OSError("no free port for the Ray dashboard")


@contextmanager
def ray_session(train: TrainConfig, services: Services | None = None):
    """Connect to the settings' Ray cluster, or start a local Ray on loopback (in the settings'
    temporary folder) and stop it afterwards."""
    import ray

    services = services or Services()
    if ray.is_initialized():
        yield
        return
    if services.ray_address:
        from components.data.ray_session import connect

        connect(services.ray_address, log_to_driver=True)
    else:
        # Logical CPUs for the workers and, beside them, for Ray Data's read and preprocessing
        # tasks (as many as the machine has cores): Ray only schedules by them, the cores are
        # shared. Without the second part the workers would take every CPU and starve ingest.
        workers = int(train.num_workers * train.cpus_per_worker + 0.999)
        data = max(os.cpu_count() or 1, train.num_workers * train.data_cpus_per_worker)
        ray.init(
            address="local",  # a new Ray, never one that happens to run on this machine
            num_cpus=workers + data,
            include_dashboard=True,  # Train V2's state queries need it; loopback only
            dashboard_host="127.0.0.1",
            dashboard_port=dashboard_port(),
            _temp_dir=services.ray_temp_dir,
            log_to_driver=True,
        )
    try:
        yield
    finally:
        ray.shutdown()


def scaling_config(train: TrainConfig):
    """Ray's ScalingConfig from params.yaml: workers, GPUs, extra resources, placement."""
    from ray.train import ScalingConfig

    resources = {"CPU": train.cpus_per_worker, **train.resources_per_worker}
    if train.use_gpu:
        resources["GPU"] = train.gpus_per_worker
    return ScalingConfig(
        num_workers=train.num_workers,
        use_gpu=train.use_gpu,
        resources_per_worker=resources,
        placement_strategy=train.placement_strategy,
    )


def fit(loop: LoopConfig, storage: RunStorage, name: str):
    """Run the per-worker loop on the configured workers. A run folder that already holds
    checkpoints under `name` continues from its latest one. Returns Ray's Result."""
    from ray.train import CheckpointConfig, FailureConfig, LoggingConfig, RunConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from components.training.loop import train_loop_per_worker

    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"loop": loop},
        torch_config=TorchConfig(backend="nccl" if loop.train.use_gpu else "gloo"),
        scaling_config=scaling_config(loop.train),
        run_config=RunConfig(
            name=name,
            storage_path=storage.path,
            storage_filesystem=storage.ray_filesystem,
            failure_config=FailureConfig(max_failures=loop.train.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            # Ray Train's per-report INFO lines drown the progress line; warnings still show
            logging_config=LoggingConfig(log_level="WARNING"),
        ),
    )
    return trainer.fit()
