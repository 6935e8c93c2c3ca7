"""The sections of params.yaml, typed and frozen: a typo fails at load with the offending key,
not twenty minutes into training."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from components.checks.limits import SampleLimits
from components.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MAX_CROP_SCALE = 4.0  # train.crop_scale: a box of at most 4x the area (the image at half its side)


class ConfigError(UserError, ValueError):
    """A user's configuration mistake, reported as one clear message."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# opt-in sources read from Debian packages (components/data/sources/debian_sources.py)
DebianSourceName = Literal["tuxpaint", "openclipart", "fashion-mnist", "flags", "playing-cards"]


class DataConfig(_Frozen):
    train_package: str
    heldout_package: str
    image_size: int = Field(gt=0, le=1024)
    max_concepts: int = Field(ge=0)
    include_skin_tones: bool
    val_fraction: float = Field(ge=0.0, lt=1.0)
    samples_per_shard: int = Field(gt=0)
    seed: int
    # Optional sources, off by default (the default corpus does not change): more training
    # styles of the same concepts (npm specs, e.g. emoji-datasource-twitter@16.0.0), and the
    # user's own image-text data (CSV/parquet tables or WebDataset shards, local or s3://).
    extra_train_packages: list[str] = Field(default_factory=list)
    # more held-out styles of the selected concepts, never trained on: each its own split
    # heldout_<style> (e.g. emoji-datasource-twitter@16.0.0 -> heldout_twemoji) and metrics
    # zeroshot_heldout_<style>_*
    extra_heldout_packages: list[str] = Field(default_factory=list)
    user_sources: list[str] = Field(default_factory=list)
    # Where a user table's image references may point: local folders and s3:// prefixes. Empty:
    # each table's own folder (or S3 prefix). Anything else is refused as outside_root, unread.
    user_roots: list[str] = Field(default_factory=list)
    # A user's image is stored as given (a JPEG stays a JPEG, aspect ratio kept) unless its
    # shorter side is above this: then resized to it, once (components/data/corpus/stored_image.py)
    max_stored_side: int = Field(default=512, gt=0)
    # how `dvc add` versions the corpus: true = through .dvc/cache, then `dvc push` (the
    # default corpus is small); false = `dvc add --to-remote`: straight into the DVC remote
    # (CLIP_DVC_REMOTE), no local copy: for corpora too large to hold twice (docs/decisions.md)
    dvc_local_cache: bool = True
    # where the shards go: null = data/shards/ (versioned with the rest of data/ by data.dvc);
    # s3://bucket/prefix = uploaded there, one at a time, under content-addressed keys that
    # never change; data/ then keeps the manifest, card and logs, all data.dvc versions
    output: str | None = None
    # http(s) URLs in user tables (components/data/fetch/): per connect and read, the whole
    # body, retries of timeouts/5xx/429 (backoff 0.5 s, doubling), redirects followed; loopback
    # and private addresses only when allowed (an intranet mirror; link-local never);
    # Ray Data actors fetching at once, and threads in each
    fetch_timeout_s: float = Field(default=10.0, gt=0)
    fetch_deadline_s: float = Field(default=60.0, gt=0)
    fetch_retries: int = Field(default=2, ge=0)
    fetch_max_redirects: int = Field(default=5, ge=0)
    fetch_private_addresses: bool = False
    fetch_actors: int = Field(default=2, ge=1)
    fetch_threads: int = Field(default=16, ge=1)
    # from this many user samples on, each window of them is checked (decoded, hashed) by a Ray
    # task on the cluster (the settings' Ray, else a local one) while the build reads on; null =
    # the build's threads only (on one machine Ray's hops cost more than they give). The corpus
    # is the same bytes either way (bench/build_checks_on_ray.py)
    check_on_ray_from_samples: int | None = Field(default=None, ge=0)
    # the user's WebDataset sources built by Ray tasks in two passes: each source shard read and
    # checked where a CPU is free (offsets come back, never bytes), then each output shard
    # written by a task that reads its images by those offsets; the build process only decides.
    # The same corpus byte for byte; with `output` null the corpus folder must be one every node
    # sees. Tables keep the build's own path (a URL's fetch is not repeatable)
    build_on_ray: bool = False
    # Debian-packaged sources (scripts/install_debian_sources.sh installs them), [] = off;
    # the caps apply only when some are named: images per captioned source (0 = all, seeded
    # choice) and images per class of a zero-shot label set (0 = all)
    debian_sources: list[DebianSourceName] = Field(default_factory=list)
    debian_max_images_per_source: int = Field(default=2000, ge=0)
    label_set_max_per_class: int = Field(default=50, ge=0)

    @field_validator("output")
    @classmethod
    def _output(cls, value: str | None) -> str | None:
        bucket = (value or "").removeprefix("s3://").partition("/")[0]
        if value is not None and (not value.startswith("s3://") or not bucket):
            raise ValueError(
                f"data.output {value!r}: an s3://bucket/prefix (null keeps the shards in data/)"
            )
        return value.rstrip("/") if value else value


class ValidateConfig(SampleLimits):
    """The gate's parameters. The per-sample limits (caption length, image sides, aspect ratio,
    pixel and byte caps) are SampleLimits: the data build checks user samples against the same
    ones at the source, before storing them."""

    max_rejected_fraction: float = Field(ge=0.0, le=1.0)
    min_rows: int = Field(ge=0)
    # null = no cap: a corpus of any size is checked (memory does not grow with it; issue 15)
    max_rows: int | None = Field(default=None, gt=0)
    # corpora of at least this many rows have their shards decoded by Ray Data tasks (the
    # settings' cluster, else a local Ray); smaller ones by threads of the gate's process,
    # which start in no time. null: always threads
    decode_on_ray_from_rows: int | None = Field(default=200_000, ge=0)
    # Added by components/validation: the manifest's allowed split and source values (a new
    # source is a deliberate change, so an unknown one stops the gate).
    known_splits: tuple[str, ...] = Field(
        default=(
            "train", "val", "heldout_style", "heldout_twemoji",
            "zeroshot_fashion_mnist", "zeroshot_flags", "zeroshot_playing_cards",
        ),
        min_length=1,
    )  # fmt: skip
    known_sources: tuple[str, ...] = Field(
        default=(
            "noto", "openmoji", "twemoji", "user",
            "tuxpaint", "openclipart", "fashion-mnist", "flags", "playing-cards",
        ),
        min_length=1,
    )  # fmt: skip


class ModelConfig(_Frozen):
    name: str
    # "word" or "bpe": learned from the training captions, vocab_size of the model config (fast
    # on small data); "clip-bpe": CLIP's 49,408-token BPE (a config with vocab_size 49408)
    tokenizer: Literal["word", "bpe", "clip-bpe", "wordpiece"] = "word"
    # start from trained weights: a model.safetensors or an OpenAI-style state dict (.pt), or
    # warm start from a registered version: champion (the registry's champion alias),
    # models:/<name>@<alias> or models:/<name>/<version>; same architecture and tokenizer
    init_from: str | None = None


class TrainConfig(_Frozen):
    num_workers: int = Field(ge=1)
    use_gpu: bool
    cpus_per_worker: float = Field(gt=0)
    epochs: int = Field(ge=1)
    # an epoch is a full pass over the training split unless this says how many samples it
    # takes (open_clip's train_num_samples); the schedule and the epochs follow it
    samples_per_epoch: int | None = Field(default=None, gt=0)
    global_batch_size: int = Field(ge=2)
    # where the workers read the training shards: null = the workdir's data/ (its shards in
    # data/shards/, which every node must see, or at the S3 prefix its card names: data.output);
    # s3://bucket/prefix = a built corpus there (manifest + shards); every node reads S3 itself,
    # with the settings' S3 endpoint and keys
    corpus: str | None = None
    # each worker's shuffle window, in MiB of decoded images (samples = this / (3 x side^2));
    # a worker holds up to 4 windows (one read ahead, one queued, one in use and its
    # permutation), whatever the corpus's size
    shuffle_buffer_mb: float = Field(default=128, gt=0)
    # training's random resized crop: the range of the image's area a crop keeps, e.g.
    # [0.5, 1.0]; a share above 1 zooms out (the whole image smaller, framed in white), up to
    # MAX_CROP_SCALE; null = off (resize + center crop, as evaluation)
    crop_scale: tuple[float, float] | None = None
    # training's colour augmentation: brightness, contrast and saturation each scaled by a
    # factor from [1 - color_jitter, 1 + color_jitter]; grayscale with probability grayscale_p
    color_jitter: float = Field(default=0.0, ge=0.0, le=1.0)
    grayscale_p: float = Field(default=0.0, ge=0.0, le=1.0)
    # training captions: with probability caption_template_p, a template filled with the
    # sample's concept name instead of one of its captions (a set in components/model/
    # templates.json, e.g. "emoji", or a list; null = off); the tokenizer learns their words
    caption_templates: list[str] | str | None = None
    caption_template_p: float = Field(default=0.5, ge=0.0, le=1.0)
    # CPUs reserved for each worker's Ray Data ingest (read, decode, tokenize), beside the
    # worker's own: a placement group of this many 1-CPU bundles, anywhere in the cluster
    data_cpus_per_worker: int = Field(default=1, ge=1)
    lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    warmup_steps: int = Field(ge=0)
    grad_clip_norm: float = Field(gt=0)
    loss: Literal["clip", "siglip"] = "clip"  # softmax contrastive (CLIP) or sigmoid (SigLIP)
    # LiT: freeze a (pretrained, see model.init_from) tower and train the other
    lock_image_tower: bool = False
    lock_text_tower: bool = False
    # a locked text tower's features are computed once per distinct caption and kept for this
    # many captions (least recently used out; entries x embed_dim floats); 0 = run it every step
    text_cache_entries: int = Field(default=100_000, ge=0)
    # split each worker's batch into this many pieces (memory), keeping the full contrastive batch
    accum_micro_batches: int = Field(default=1, ge=1)
    seed: int
    checkpoint_every_steps: int = Field(ge=1)
    max_failures: int = Field(ge=0)
    # Ray ScalingConfig: GPUs per worker when use_gpu, extra custom resources (e.g. a node
    # label resource), and how the workers' bundles are placed (STRICT_SPREAD: one per node)
    gpus_per_worker: float = Field(default=1.0, gt=0)
    resources_per_worker: dict[str, float] = Field(default_factory=dict)
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = "PACK"
    # where Ray keeps the run's checkpoints: null = artifacts/ray, a folder, or s3://bucket/prefix
    # (endpoint and keys from AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL and AWS_ACCESS_KEY_ID ...)
    storage_path: str | None = None
    # auto = bf16 autocast on GPU, fp32 on CPU; bf16 on CPU is allowed (slower on most CPUs)
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    channels_last: bool = False  # NHWC images and conv weights (faster convolutions on GPU)
    compile: bool = False  # torch.compile the model (a one-off compile time per start)
    # deterministic kernels (torch.use_deterministic_algorithms) on top of the seeded data order:
    # a resumed run ends with the weights of an uninterrupted one
    deterministic: bool = False
    system_metrics_interval_s: float = Field(default=10.0, gt=0)  # MLflow system/ metrics

    @model_validator(mode="before")
    @classmethod
    def _no_image_size(cls, values: Any) -> Any:
        if isinstance(values, dict) and "image_size" in values:
            raise ValueError(
                "train.image_size is gone: the model config's vision_cfg.image_size is the one "
                "training, evaluation and export use (choose another model.name to change it)"
            )
        return values

    @field_validator("crop_scale")
    @classmethod
    def _crop_scale(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 < value[0] <= value[1] <= MAX_CROP_SCALE:
            raise ValueError(
                f"crop_scale {list(value)} must be [low, high] with 0 < low <= high <= "
                f"{MAX_CROP_SCALE:g} (above 1: a zoom out, the image smaller on white)"
            )
        return value

    @field_validator("corpus")
    @classmethod
    def _corpus(cls, value: str | None) -> str | None:
        if value is not None and "://" in value and not value.startswith("s3://"):
            raise ValueError(f"train.corpus {value!r}: a folder or an s3://bucket/prefix")
        return value

    @model_validator(mode="after")
    def _batch_splits_evenly(self) -> TrainConfig:
        per_worker, rest = divmod(self.global_batch_size, self.num_workers)
        if rest:
            raise ValueError(
                f"global_batch_size {self.global_batch_size} does not split over "
                f"{self.num_workers} workers"
            )
        if self.lock_image_tower and self.lock_text_tower:
            raise ValueError("lock_image_tower and lock_text_tower together leave nothing to train")
        if per_worker < self.accum_micro_batches:
            raise ValueError(
                f"{per_worker} samples per worker cannot make "
                f"{self.accum_micro_batches} micro-batches"
            )
        return self


class EvaluateConfig(_Frozen):
    # a named set from components/model/templates.json ("emoji", "imagenet": the paper's 80)
    # or a list; evaluation resolves it (components/stages.py checks it at load)
    templates: list[str] | str
    batch_size: int = Field(gt=0)
    gate_metric: str
    # zero-shot during training: every this many steps rank 0 scores a fixed, seeded subset of
    # the held-out style (`probe_images` images among their own concepts, these templates) and
    # logs zeroshot_probe/top1 and top5 to MLflow as curves; null = off
    every_steps: int | None = Field(default=None, gt=0)
    probe_images: int = Field(default=256, gt=0)


class ExportConfig(_Frozen):
    opset: int = Field(ge=13)
    parity_atol: float = Field(gt=0)


class RegistryConfig(_Frozen):
    model_name: str = Field(min_length=1)
    experiment: str = Field(min_length=1)
    champion_alias: str = Field(min_length=1)
    min_improvement: float = Field(ge=0)


class StackConfig(_Frozen):
    """The local stack of real servers (`clip-pipeline stack up`); not a model parameter."""

    folder: Path = Path(".stack")  # state, logs and data; relative paths are under the workdir
    bucket: str = Field(default="clip-pipeline", min_length=3)
    # MLflow's backend store: SQLite in the folder, or PostgreSQL: the server at postgresql_uri
    # (postgresql+psycopg://user:password@host:port/db), else one the stack starts itself
    mlflow_backend: Literal["sqlite", "postgresql"] = "sqlite"
    postgresql_uri: str | None = None
    # null = twice this machine's cores: the training workers reserve theirs and Ray Data's
    # read and preprocessing tasks need CPUs beside them (logical: they share the cores)
    ray_num_cpus: int | None = Field(default=None, ge=1)
    start_timeout_s: float = Field(default=180, gt=0)

    @field_validator("postgresql_uri")
    @classmethod
    def _postgresql(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("postgresql"):
            raise ValueError(f"{value!r} is not a postgresql:// or postgresql+psycopg:// URI")
        return value


class Paths(_Frozen):
    """Where a run reads and writes. Everything lives under `workdir` unless told otherwise."""

    workdir: Path

    @property
    def data(self) -> Path:  # the corpus: shards + manifest + card (tracked by data.dvc)
        return self.workdir / "data"

    @property
    def sources(self) -> Path:  # downloaded source packages (a cache, never committed)
        return self.workdir / ".cache" / "sources"

    @property
    def artifacts(self) -> Path:  # stage outputs: reports, checkpoints, metrics, ONNX
        return self.workdir / "artifacts"

    @property
    def mlruns(self) -> Path:  # the embedded MLflow backend (SQLite) and artifact root
        return self.workdir / "mlruns"
