"""With the local stack up, the pipeline uses it: its servers fill what the environment did not
name in the settings (a variable the user set explicitly wins). A stack recorded as up but not
running is an error, not a silent fall-back to the embedded defaults."""

from __future__ import annotations

from typing import Any

from components.settings import Settings, export_environment, load_settings
from infra.local import service
from infra.local.service import StackError
from infra.local.stack import LocalStack


def use_local_stack(settings: Settings) -> Settings:
    """`settings` with the local stack's servers, or `settings` unchanged when no stack is up."""
    stack = LocalStack.of(settings)
    state = stack.state()
    if not state.get("services"):
        return settings
    down = [name for name, record in state["services"].items() if not service.alive(record)]
    if down:
        raise StackError(
            f"the local stack in {stack.root} is recorded as up but {', '.join(down)} is not "
            "running: `clip-pipeline stack up` restarts it, `clip-pipeline stack down` goes back "
            "to the embedded defaults. "
            + " ".join(
                f"The end of {name}'s log {state['services'][name]['log']}:\n"
                f"{service.log_tail(state['services'][name])}"
                for name in down
            )
        )
    return settings.with_local_stack(stack.client_env(state))


def settings_for_run(
    profile: str | None = None,
    workdir: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """What an entry point (the CLI, a served or deployed flow) runs with: params.yaml, the
    profile, the overrides and the environment read once, the local stack's servers, checked
    across sections before any compute; then exported for the child processes."""
    from components.stages import check_settings

    settings = use_local_stack(load_settings(profile, workdir=workdir, overrides=overrides))
    check_settings(settings)
    export_environment(settings)
    return settings
