"""Serve a registered model over HTTP with MLflow's scoring server, from this environment.

`mlflow models serve --env-manager local` starts `uvicorn` by name, so it works only where the
environment's bin folder is on PATH (an activated venv). The command built here puts it there,
points MLflow at the pipeline's tracking store, and checks first that the alias exists.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from components.errors import UserError
from components.settings import Settings


def serve_command(
    settings: Settings,
    host: str,
    port: int,
    alias: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) of `mlflow models serve` for models:/NAME@ALIAS; the server's
    environment is `environment` (the caller's) with the settings' tracking URI."""
    environment = environment or {}
    from mlflow.exceptions import MlflowException

    from components.tracking.runs import configure_mlflow

    name, alias = settings.registry.model_name, alias or settings.registry.champion_alias
    client = configure_mlflow(settings.tracking)
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as err:
        raise UserError(
            f"no version of {name!r} is @{alias} in {settings.tracking_uri}: run `clip-pipeline "
            "run` (or register and promote a version) first"
        ) from err
    print(
        f"serving {name} version {version.version} (@{alias}) on http://{host}:{port}", flush=True
    )
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **environment,
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "PATH": os.pathsep.join([bin_dir, environment.get("PATH", "")]),
    }
    argv = [
        sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{name}@{alias}",
        "--env-manager", "local", "--host", host, "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    return argv, env
