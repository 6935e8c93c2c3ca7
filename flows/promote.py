"""Promotion flow: move the champion alias to a version only when it beats the champion.

Runnable alone: `python -m flows.promote <version> [--profile tiny]`.
"""

from __future__ import annotations

import argparse
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from components.registry.promote import Decision
from components.registry.promote import promote as promote_version
from components.settings import Settings
from components.stages import registry_inputs
from infra.local.client_env import settings_for_run


def _one_at_a_time(model_name: str) -> str:
    """A Prefect global concurrency limit of one slot per model: promotions on different
    machines (the registry lock is per machine) still run one at a time. Created on first use."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    name = f"promote-{model_name}"
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1)
                )
            except ObjectAlreadyExists:  # another promotion created it meanwhile
                pass
    return name


@flow(name="promote", log_prints=True)
def promote(
    version: str,
    profile: str | None = None,
    workdir: str | None = None,
    overrides: dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> Decision:
    """`settings`: the calling flow's (resolved once per run); run alone, it resolves them."""
    from prefect.concurrency.sync import concurrency

    settings = settings or settings_for_run(profile, workdir, overrides)
    with concurrency(_one_at_a_time(settings.registry.model_name), occupy=1, strict=True):
        decision = promote_version(registry_inputs(settings), version)
    verdict = "promoted to" if decision.promote else "not promoted to"
    get_run_logger().info(
        "version %s %s @%s: %s", version, verdict, settings.registry.champion_alias, decision.reason
    )
    create_markdown_artifact(
        key="promotion-decision",
        markdown=(
            f"## Promotion of {settings.registry.model_name} v{version}\n\n"
            f"| | version | {settings.evaluate.gate_metric} |\n|---|---|---|\n"
            f"| challenger | {decision.challenger_version} | {decision.challenger_value:.4f} |\n"
            f"| champion before | {decision.champion_version or '-'} | "
            f"{'-' if decision.champion_value is None else f'{decision.champion_value:.4f}'} |\n\n"
            f"**Decision:** {verdict} `@{settings.registry.champion_alias}`: {decision.reason}\n"
        ),
        description="champion/challenger decision",
    )
    return decision


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("version")
    parser.add_argument("--profile")
    args = parser.parse_args()
    promote(args.version, args.profile)
