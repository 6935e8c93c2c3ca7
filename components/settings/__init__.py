"""One typed configuration, resolved once from params.yaml (base + profile), --set and the
environment: sections.py (the params.yaml sections), services.py (the servers and caches the
environment names), stage_inputs.py (what each stage receives), resolve.py (loading)."""

from components.settings.resolve import (
    QUIET_ENV,
    Settings,
    apply_quiet_env,
    export_environment,
    load_settings,
    parse_overrides,
    yaml_problem,
)
from components.settings.sections import (
    PROJECT_ROOT,
    ConfigError,
    DataConfig,
    DebianSourceName,
    EvaluateConfig,
    ExportConfig,
    ModelConfig,
    Paths,
    RegistryConfig,
    StackConfig,
    TrainConfig,
    ValidateConfig,
)
from components.settings.services import DEFAULT_DATA_CACHE, S3Access, Services
from components.settings.stage_inputs import (
    BuildInputs,
    EvaluateInputs,
    ExportInputs,
    ProbeInputs,
    RegistryInputs,
    Tracking,
    TrainInputs,
    ValidateInputs,
)

__all__ = [
    "DEFAULT_DATA_CACHE",
    "PROJECT_ROOT",
    "QUIET_ENV",
    "BuildInputs",
    "ConfigError",
    "DataConfig",
    "DebianSourceName",
    "EvaluateConfig",
    "EvaluateInputs",
    "ExportConfig",
    "ExportInputs",
    "ModelConfig",
    "Paths",
    "RegistryConfig",
    "RegistryInputs",
    "S3Access",
    "Services",
    "Settings",
    "StackConfig",
    "Tracking",
    "TrainConfig",
    "ProbeInputs",
    "TrainInputs",
    "ValidateConfig",
    "ValidateInputs",
    "apply_quiet_env",
    "export_environment",
    "load_settings",
    "parse_overrides",
    "yaml_problem",
]
