"""One typed configuration, read from params.yaml (base + profile) and the environment.

Everything is validated before any compute starts: a typo in params.yaml fails here with the
offending key, not twenty minutes into training.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from components.checks.limits import SampleLimits
from components.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_CACHE = Path.home() / ".cache" / "clip-pipeline"  # pinned wheels' data

# Variables that keep the stack quiet and local (see shared/STACK.md). Set in one place;
# an explicit value in the environment always wins.
QUIET_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5",
    "RAY_DEDUP_LOGS": "0",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.3",
    # The temporary Prefect server's first start creates its database: on a slow 2-core machine
    # that took more than Prefect's default 20 s, and `make run` failed before any stage.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONWARNINGS": "ignore::DeprecationWarning",
    # The flow retries the steps that talk to MLflow and S3 (with backoff); MLflow's own HTTP
    # retries (7 by default, up to minutes per request) would only delay the flow's.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}


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
    user_sources: list[str] = Field(default_factory=list)
    # Where a user table's image references may point: local folders and s3:// prefixes. Empty:
    # each table's own folder (or S3 prefix). Anything else is refused as outside_root, unread.
    user_roots: list[str] = Field(default_factory=list)
    # Debian-packaged sources (scripts/install_debian_sources.sh installs them), [] = off;
    # the caps apply only when some are named: images per captioned source (0 = all, seeded
    # choice) and images per class of a zero-shot label set (0 = all)
    debian_sources: list[DebianSourceName] = Field(default_factory=list)
    debian_max_images_per_source: int = Field(default=2000, ge=0)
    label_set_max_per_class: int = Field(default=50, ge=0)


class ValidateConfig(SampleLimits):
    """The gate's parameters. The per-sample limits (caption length, image sides, aspect ratio,
    pixel and byte caps) are SampleLimits: the data build checks user samples against the same
    ones at the source, before storing them."""

    max_rejected_fraction: float = Field(ge=0.0, le=1.0)
    min_rows: int = Field(ge=0)
    max_rows: int = Field(gt=0)
    # Added by components/validation: the manifest's allowed split and source values (a new
    # source is a deliberate change, so an unknown one stops the gate).
    known_splits: tuple[str, ...] = Field(
        default=(
            "train", "val", "heldout_style",
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
    # start from trained weights: a model.safetensors or an OpenAI-style state dict (.pt)
    init_from: Path | None = None


class TrainConfig(_Frozen):
    num_workers: int = Field(ge=1)
    use_gpu: bool
    cpus_per_worker: float = Field(gt=0)
    epochs: int = Field(ge=1)
    global_batch_size: int = Field(ge=2)
    lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    warmup_steps: int = Field(ge=0)
    grad_clip_norm: float = Field(gt=0)
    loss: Literal["clip", "siglip"] = "clip"  # softmax contrastive (CLIP) or sigmoid (SigLIP)
    # LiT: freeze a (pretrained, see model.init_from) tower and train the other
    lock_image_tower: bool = False
    lock_text_tower: bool = False
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
    # a named set from components/evaluation/templates.json ("emoji", "imagenet": the paper's 80)
    # or a list; evaluation resolves it (components/stages.py checks it at load)
    templates: list[str] | str
    batch_size: int = Field(gt=0)
    gate_metric: str


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
    ray_num_cpus: int | None = Field(default=None, ge=1)  # null = this machine's cores
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


class S3Access(_Frozen):
    """How to reach S3 (or SeaweedFS, MinIO): the standard AWS variables, read once at load."""

    endpoint: str | None = None  # AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL; None: AWS itself
    region: str = "us-east-1"  # AWS_REGION, else AWS_DEFAULT_REGION
    access_key_id: SecretStr | None = None  # None: boto3's other credential sources
    secret_access_key: SecretStr | None = None

    def credentials(self) -> tuple[str, str] | None:
        if self.access_key_id and self.secret_access_key:
            return self.access_key_id.get_secret_value(), self.secret_access_key.get_secret_value()
        return None


class Services(_Frozen):
    """Where the servers are: the environment at load (the standard variables), filled from the
    local stack's when it is up. Read once; nothing reads the environment afterwards."""

    mlflow_tracking_uri: str | None = None  # None: SQLite under the workdir
    mlflow_registry_uri: str | None = None
    prefect_api_url: str | None = None  # None: a temporary Prefect server per run
    ray_address: str | None = None  # None: a local Ray started for the run
    s3: S3Access = Field(default_factory=S3Access)
    checkpoint_storage: str | None = None  # CLIP_STORAGE_PATH (the stack's S3)
    dvc_remote: str | None = None  # CLIP_DVC_REMOTE: where the versioned corpus is pushed
    ray_temp_dir: str = "/tmp/ray-clip-pipeline"  # CLIP_RAY_TMP
    data_cache: Path = DEFAULT_DATA_CACHE  # CLIP_DATA_CACHE: the pinned wheels' data
    local_stack: Path | None = None  # the stack whose servers these are, when one is up

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Services:
        def first(*names: str) -> str | None:
            return next((env[n] for n in names if env.get(n)), None)

        s3 = S3Access(
            endpoint=first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
            region=first("AWS_REGION", "AWS_DEFAULT_REGION") or "us-east-1",
            access_key_id=first("AWS_ACCESS_KEY_ID"),
            secret_access_key=first("AWS_SECRET_ACCESS_KEY"),
        )
        values = {
            "mlflow_tracking_uri": first("MLFLOW_TRACKING_URI"),
            "mlflow_registry_uri": first("MLFLOW_REGISTRY_URI"),
            "prefect_api_url": first("PREFECT_API_URL"),
            "ray_address": first("RAY_ADDRESS"),
            "checkpoint_storage": first("CLIP_STORAGE_PATH"),
            "dvc_remote": first("CLIP_DVC_REMOTE"),
            "ray_temp_dir": first("CLIP_RAY_TMP"),
            "data_cache": first("CLIP_DATA_CACHE"),
        }
        return cls(s3=s3, **{k: v for k, v in values.items() if v is not None})

    def as_environment(self) -> dict[str, str]:
        """The standard variables these services were read from (secrets included): what an
        entry point exports so that child processes (Ray workers, DVC, boto3 and MLflow's
        clients) reach the same servers."""
        keys = self.s3.credentials()
        values = {
            "MLFLOW_TRACKING_URI": self.mlflow_tracking_uri,
            "MLFLOW_REGISTRY_URI": self.mlflow_registry_uri,
            "PREFECT_API_URL": self.prefect_api_url,
            "RAY_ADDRESS": self.ray_address,
            "AWS_ENDPOINT_URL_S3": self.s3.endpoint,
            "AWS_ACCESS_KEY_ID": keys[0] if keys else None,
            "AWS_SECRET_ACCESS_KEY": keys[1] if keys else None,
            "CLIP_STORAGE_PATH": self.checkpoint_storage,
            "CLIP_DVC_REMOTE": self.dvc_remote,
        }
        return {k: v for k, v in values.items() if v}

    def filled_from(self, stack_env: Mapping[str, str], stack: Path) -> Services:
        """What the environment left unset, taken from the local stack's variables."""
        mine = self.model_dump()
        theirs = Services.from_environment(stack_env).model_dump()
        merged = {k: mine[k] if mine[k] is not None else theirs[k] for k in mine if k != "s3"}
        s3 = {k: v if v is not None else theirs["s3"][k] for k, v in mine["s3"].items()}
        if not stack_env.get("AWS_REGION"):
            s3["region"] = mine["s3"]["region"]
        return Services(**{**merged, "s3": S3Access(**s3), "local_stack": stack})


class Settings(_Frozen):
    profile: str
    data: DataConfig
    validate_: ValidateConfig = Field(alias="validate")
    model: ModelConfig
    train: TrainConfig
    evaluate: EvaluateConfig
    export: ExportConfig
    registry: RegistryConfig
    stack: StackConfig = Field(default_factory=StackConfig)
    paths: Paths
    services: Services = Field(default_factory=Services)

    @property
    def tracking_uri(self) -> str:
        """MLFLOW_TRACKING_URI when set (a server), else SQLite under the workdir."""
        return self.services.mlflow_tracking_uri or f"sqlite:///{self.paths.mlruns / 'mlflow.db'}"

    @property
    def checkpoint_storage(self) -> str | None:
        """train.storage_path, else CLIP_STORAGE_PATH (the local stack's S3), else None (the
        default folder under artifacts/)."""
        return self.train.storage_path or self.services.checkpoint_storage

    @property
    def dvc_remote(self) -> str | None:
        """CLIP_DVC_REMOTE: the S3 URL the versioned corpus is pushed to (None: no push)."""
        return self.services.dvc_remote

    @property
    def stack_root(self) -> Path:
        folder = self.stack.folder.expanduser()
        return folder if folder.is_absolute() else self.paths.workdir / folder

    @property
    def sections(self) -> dict[str, Any]:
        """The resolved parameters, as logged to MLflow (where the servers run is not one)."""
        return self.model_dump(mode="json", by_alias=True, exclude={"paths", "stack", "services"})

    @property
    def tracking(self) -> Tracking:
        return Tracking(
            uri=self.tracking_uri,
            experiment=self.registry.experiment,
            profile=self.profile,
            params=self.sections,
            paths=self.paths,
            services=self.services,
        )

    def with_local_stack(self, stack_env: Mapping[str, str]) -> Settings:
        """These settings, with the local stack's servers where the environment named none."""
        services = self.services.filled_from(stack_env, self.stack_root)
        return self.model_copy(update={"services": services})


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


class ValidateInputs(_Frozen):
    gate: ValidateConfig
    paths: Paths


class TrainInputs(_Frozen):
    model: ModelConfig
    train: TrainConfig
    paths: Paths
    services: Services
    tracking: Tracking

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


def yaml_problem(err: yaml.YAMLError, where: str, inline: bool = False) -> str:
    """One line: where (file:line:column, or the column of an `inline` value), and what the
    YAML parser found wrong."""
    mark = getattr(err, "problem_mark", None)
    if mark is None:
        at = ""
    elif inline:
        at = f" (column {mark.column + 1} of the value)"
    else:
        at = f":{mark.line + 1}:{mark.column + 1}"
    problem = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    text = f"{where}{at}: not valid YAML: {problem}" + (f" ({context})" if context else "")
    return " ".join(text.split())


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(
    profile: str | None = None,
    params_file: Path | None = None,
    workdir: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environment: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve params.yaml: base sections, then the profile's overrides, then `overrides`; and
    the servers from `environment` (default: this process's, read here and nowhere else).

    The profile is `profile`, else CLIP_PROFILE, else params.yaml's `profile` key. The params
    file and the workdir default to the current directory (the checkout `dvc repro` runs in),
    falling back to this package's checkout.
    """
    env = dict(os.environ if environment is None else environment)
    local = Path.cwd() / "params.yaml"
    default_params = local if local.is_file() else PROJECT_ROOT / "params.yaml"
    params_file = Path(params_file or env.get("CLIP_PARAMS") or default_params)
    try:
        raw = yaml.safe_load(params_file.read_text()) or {}
    except FileNotFoundError as err:
        raise ConfigError(f"parameter file not found: {params_file}") from err
    except yaml.YAMLError as err:
        raise ConfigError(yaml_problem(err, str(params_file))) from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{params_file} holds a {type(raw).__name__}, not sections of keys")
    profiles = raw.pop("profiles", {}) or {}
    chosen = profile or env.get("CLIP_PROFILE") or raw.pop("profile", "default")
    raw.pop("profile", None)
    if chosen not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(f"unknown profile {chosen!r} in {params_file} (known: {known})")
    resolved = _deep_merge(raw, profiles[chosen] or {})
    resolved = _deep_merge(resolved, overrides or {})
    resolved["profile"] = chosen
    root = workdir or env.get("CLIP_WORKDIR") or params_file.resolve().parent
    resolved["paths"] = {"workdir": Path(root).resolve()}
    resolved["services"] = Services.from_environment(env)
    try:
        return Settings.model_validate(resolved)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(f"invalid parameters (profile {chosen!r}): {problems}") from err


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """["train.epochs=3", "train.precision=bf16"] -> {"train": {"epochs": 3, ...}} (YAML values)."""
    merged: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(f"--set {item!r}: expected section.key=value, e.g. train.epochs=3")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(yaml_problem(err, f"--set {item!r}", inline=True)) from err
        for part in reversed(parts):
            value = {part: value}
        merged = _deep_merge(merged, value)
    return merged


def export_environment(settings: Settings) -> None:
    """For the process entry points only (the CLI, a served or deployed flow): put in the
    environment what child processes and the libraries' own clients need, from the settings:
    the quiet variables, and the local stack's servers when the settings use one. A variable
    the user set wins (it is what the settings read)."""
    apply_quiet_env()
    if settings.services.local_stack is not None:
        for key, value in settings.services.as_environment().items():
            os.environ.setdefault(key, value)
        # the head is on 127.0.0.1: a driver must be too (Ray otherwise swaps 127.0.0.1 for
        # this machine's interface address, where nothing listens)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def apply_quiet_env() -> None:
    """Set the variables that keep Ray, Prefect, MLflow, DVC and GX local and quiet."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    if not os.environ.get("RAY_ADDRESS"):
        # The embedded Ray is one machine: with this 0, Ray (read at its import) binds every
        # process to 127.0.0.1, as it does on macOS, instead of the machine's interfaces.
        # Not set when joining a cluster, whose nodes must reach each other.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
