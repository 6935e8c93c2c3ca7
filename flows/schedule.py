"""Scheduled retraining. prefect.yaml holds the deployment (cron, parameters, pool) for
`prefect deploy` and a worker; `serve()` serves that same deployment from this process
(`clip-pipeline serve`): one schedule, two ways to run it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from components.errors import UserError
from components.settings import PROJECT_ROOT, Settings

PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"
DEPLOYMENT = "weekly"


def deployment_spec(name: str = DEPLOYMENT, path: Path = PREFECT_YAML) -> dict[str, Any]:
    """One deployment's entry of prefect.yaml."""
    spec = yaml.safe_load(path.read_text()) or {}
    for deployment in spec.get("deployments") or []:
        if deployment.get("name") == name:
            return deployment
    raise UserError(f"{path} has no deployment named {name!r}")


def serve(
    settings: Settings, parameters: dict[str, Any], name: str = DEPLOYMENT, cron: str | None = None
) -> None:
    """Register the deployment (its cron schedule, its concurrency limit) on the Prefect server
    and run its flow runs here until interrupted. `parameters` go over prefect.yaml's."""
    from prefect.schedules import Cron

    from flows.retrain import retrain

    if not settings.services.prefect_api_url:
        raise UserError(
            "serving a schedule needs a lasting Prefect server: `clip-pipeline stack up` (the "
            "pipeline then finds it), or set PREFECT_API_URL"
        )
    spec = deployment_spec(name)
    listed = [item for item in spec.get("schedules") or [] if item.get("cron")]
    if cron:  # instead of prefect.yaml's, in its time zone
        zone = listed[0].get("timezone", "UTC") if listed else "UTC"
        schedules = [Cron(cron, timezone=zone)]
    else:
        schedules = [Cron(item["cron"], timezone=item.get("timezone", "UTC")) for item in listed]
    retrain.serve(
        name=name,
        schedules=schedules,
        parameters={**(spec.get("parameters") or {}), **parameters},
        description=spec.get("description"),
        tags=spec.get("tags"),
        global_limit=spec.get("concurrency_limit"),
    )
