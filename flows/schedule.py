"""Scheduled and event-triggered retraining. prefect.yaml holds the deployments (the retrain's
cron and trigger, watch-data's interval, parameters, pool) for `prefect deploy` and a worker;
`serve()` serves those same two deployments from this process (`clip-pipeline serve`): one
definition, two ways to run it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from components.errors import UserError
from components.settings import PROJECT_ROOT, Settings

PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"
DEPLOYMENT = "weekly"  # the retrain flow's
WATCH = "watch-data"


def deployment_spec(name: str = DEPLOYMENT, path: Path = PREFECT_YAML) -> dict[str, Any]:
    """One deployment's entry of prefect.yaml."""
    spec = yaml.safe_load(path.read_text()) or {}
    for deployment in spec.get("deployments") or []:
        if deployment.get("name") == name:
            return deployment
    raise UserError(f"{path} has no deployment named {name!r}")


def _schedules(spec: dict[str, Any], cron: str | None = None) -> list:
    """A deployment's cron and interval schedules; `cron` instead of its crons."""
    from prefect.schedules import Cron, Interval

    listed = spec.get("schedules") or []
    crons = [item for item in listed if item.get("cron")]
    if cron:  # instead of prefect.yaml's, in its time zone
        zone = crons[0].get("timezone", "UTC") if crons else "UTC"
        crons = [{"cron": cron, "timezone": zone}]
    return [Cron(item["cron"], timezone=item.get("timezone", "UTC")) for item in crons] + [
        Interval(timedelta(seconds=item["interval"])) for item in listed if item.get("interval")
    ]


def _triggers(spec: dict[str, Any]) -> list:
    from prefect.events import DeploymentEventTrigger

    return [
        DeploymentEventTrigger(**{k: v for k, v in item.items() if k != "type"})
        for item in spec.get("triggers") or []
        if item.get("type") == "event"
    ]


def serve(
    settings: Settings,
    parameters: dict[str, Any],
    cron: str | None = None,
    watch_every_s: float | None = None,
) -> None:
    """Register the retrain deployment (its cron, its trigger on clip.data.changed, its
    concurrency limit) and the watch-data deployment (its interval, or `watch_every_s`) on the
    Prefect server, and run their flow runs here until interrupted. `parameters` go over
    prefect.yaml's, for both."""
    from prefect import serve as serve_all
    from prefect.schedules import Interval

    from flows.retrain import retrain
    from flows.watch import watch_data

    if not settings.services.prefect_api_url:
        raise UserError(
            "serving a schedule needs a lasting Prefect server: `clip-pipeline stack up` (the "
            "pipeline then finds it), or set PREFECT_API_URL"
        )
    deployments = []
    for flow, name in ((retrain, DEPLOYMENT), (watch_data, WATCH)):
        spec = deployment_spec(name)
        schedules = _schedules(spec, cron if flow is retrain else None)
        if flow is watch_data and watch_every_s:
            schedules = [Interval(timedelta(seconds=watch_every_s))]
        deployments.append(
            flow.to_deployment(
                name=name,
                schedules=schedules,
                triggers=_triggers(spec),
                parameters={**(spec.get("parameters") or {}), **parameters},
                description=spec.get("description"),
                tags=spec.get("tags"),
                concurrency_limit=spec.get("concurrency_limit"),
            )
        )
    serve_all(*deployments)
