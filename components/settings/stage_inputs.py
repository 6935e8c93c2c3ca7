"""What each stage receives: its own sections, the paths and, where it logs, MLflow's Tracking.
components/stages.py builds them from the settings; dvc.yaml's params agree (a test)."""

from __future__ import annotations

from typing import Any

from components.checks.limits import SampleLimits
from components.settings.sections import (
    DataConfig,
    EvaluateConfig,
    ExportConfig,
    ModelConfig,
    Paths,
    RegistryConfig,
    TrainConfig,
    ValidateConfig,
    _Frozen,
)
from components.settings.services import S3Access, Services


class Tracking(_Frozen):
    """What a stage needs to record its work in MLflow: the store, the experiment, and the run's
    lineage (profile, the resolved parameters, the workdir's checkout and corpus)."""

    uri: str  # the tracking and registry store
    experiment: str
    profile: str
    params: dict[str, Any]  # Settings.sections: logged with every run, hashed into its lineage
    paths: Paths
    services: Services  # what the environment named (configure_mlflow leaves it as it was)


# What each stage receives: its own sections, the layout (paths), and tracking where it logs.
# components/stages.py builds them from the settings; dvc.yaml's params agree (a test).
class BuildInputs(_Frozen):
    data: DataConfig
    limits: SampleLimits  # the validate section's per-sample limits, checked at the source
    paths: Paths
    s3: S3Access
    ray_address: str | None = None  # the Ray cluster that fetches URLs; None: a local Ray
    ray_temp_dir: str = "/tmp/ray-clip-pipeline"


class ValidateInputs(_Frozen):
    gate: ValidateConfig
    paths: Paths
    s3: S3Access = S3Access()  # reaches shards the corpus keeps on S3 (data.output)
    ray_address: str | None = None  # the Ray cluster that decodes a large corpus; None: local
    ray_temp_dir: str = "/tmp/ray-clip-pipeline"


class ProbeInputs(_Frozen):
    """Zero-shot on the held-out style while training (evaluate.every_steps; None: off)."""

    every_steps: int | None = None
    images: int = 256
    templates: list[str] | str = "emoji"
    split: str = "heldout_style"  # the gate metric's held-out split


class TrainInputs(_Frozen):
    model: ModelConfig
    train: TrainConfig
    paths: Paths
    services: Services
    tracking: Tracking
    # the registered model and alias `model.init_from: champion` starts from
    registered_model: str
    champion_alias: str
    probe: ProbeInputs = ProbeInputs()

    @property
    def checkpoint_storage(self) -> str | None:
        """train.storage_path, else CLIP_STORAGE_PATH (the local stack's S3), else None (the
        default folder under artifacts/)."""
        return self.train.storage_path or self.services.checkpoint_storage


class EvaluateInputs(_Frozen):
    evaluate: EvaluateConfig
    seed: int  # train.seed: the linear probe's splits
    paths: Paths
    tracking: Tracking


class ExportInputs(_Frozen):
    export: ExportConfig
    templates: list[str] | str  # evaluate.templates: the served model's default prompts
    paths: Paths
    tracking: Tracking


class RegistryInputs(_Frozen):
    """Register and promote: the registry section and the gate metric they compare."""

    registry: RegistryConfig
    gate_metric: str  # evaluate.gate_metric
    paths: Paths
    tracking: Tracking
