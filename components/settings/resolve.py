"""One typed configuration, resolved once: params.yaml (base + profile), --set and the
environment. The only module that reads the environment (entry points export from it)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from components.settings.sections import (
    PROJECT_ROOT,
    ConfigError,
    DataConfig,
    EvaluateConfig,
    ExportConfig,
    ModelConfig,
    Paths,
    RegistryConfig,
    StackConfig,
    TrainConfig,
    ValidateConfig,
    _Frozen,
)
from components.settings.services import Services
from components.settings.stage_inputs import Tracking

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
