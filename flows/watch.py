"""The watch-data flow: look at every source of the corpus (a cheap fingerprint, no data read)
and, when one changed since the corpus was built, emit the Prefect event `clip.data.changed`
once. prefect.yaml's retrain deployment has a trigger on that event: the retrain runs with the
parameters the event carries (the watch's own profile, workdir and overrides).

Deployed as `watch-data` (prefect.yaml: a short interval); `clip-pipeline serve` serves it
beside the retrain deployment.
"""

from __future__ import annotations

import hashlib
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from components.settings import Settings
from components.stages import BUILD
from flows import user_errors
from flows.failures import run_stage, transient
from infra.local.client_env import settings_for_run

user_errors.install()

EVENT = "clip.data.changed"


def resource_id(workdir: str) -> str:
    """One resource per workdir: the trigger matches clip.workdir.*."""
    return f"clip.workdir.{hashlib.sha256(workdir.encode()).hexdigest()[:16]}"


# never cached: every look is at the sources as they are now; retried when S3 did not answer
@task(
    name="look-at-sources",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=transient,
)
def look(settings: Settings):  # -> SourceChanges
    from components.data.watch import look_for_changes

    return look_for_changes(BUILD.inputs_of(settings))


@flow(name="watch-data", log_prints=True)
def watch_data(
    profile: str | None = None,
    workdir: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Emit `clip.data.changed` when a source changed since the last build (or the last
    announcement); returns what changed."""
    from components.data.watch import record_announced

    settings = settings_for_run(profile, workdir, overrides)
    changes = run_stage(look, settings)
    where = str(settings.paths.workdir)
    result = {"changed": list(changes.changed), "since": changes.since, "workdir": where}
    if not changes.any:
        get_run_logger().info("no source changed since %s", changes.since)
        return result | {"event": None}
    event = emit_event(
        event=EVENT,
        resource={"prefect.resource.id": resource_id(where), "prefect.resource.name": where},
        payload={
            "profile": settings.profile,
            "workdir": where,
            "overrides": overrides or {},
            "changed": list(changes.changed),
            "since": changes.since,
            "fingerprint": changes.digest,
        },
    )
    record_announced(settings.paths.workdir, changes)
    listed = "\n".join(f"- `{name}`" for name in changes.changed)
    create_markdown_artifact(
        key="data-changed",
        markdown=f"## Data changed since {changes.since}\n\n{listed}\n\nEvent `{EVENT}` emitted.",
        description=f"{len(changes.changed)} source(s) changed",
    )
    shown = ", ".join(changes.changed)
    get_run_logger().info("changed since %s: %s; %s emitted", changes.since, shown, EVENT)
    return result | {"event": str(event.id) if event else None}
