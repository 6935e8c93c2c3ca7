"""With the local stack up, the pipeline uses it: its client variables are applied to this process
(a variable the user set explicitly wins). A stack recorded as up but not running is an error,
not a silent fall-back to the embedded defaults."""

from __future__ import annotations

import os

from components.settings import Settings
from infra.local import service
from infra.local.service import StackError
from infra.local.stack import LocalStack


def use_local_stack(settings: Settings) -> dict[str, str] | None:
    """The stack's client variables now in the environment, or None when no stack is up."""
    stack = LocalStack.of(settings)
    state = stack.state()
    if not state.get("services"):
        return None
    down = [name for name, record in state["services"].items() if not service.alive(record)]
    if down:
        raise StackError(
            f"the local stack in {stack.root} is recorded as up but {', '.join(down)} is not "
            "running: `clip-pipeline stack up` restarts it, `clip-pipeline stack down` goes back "
            "to the embedded defaults"
        )
    env = stack.client_env(state)
    for key, value in env.items():
        os.environ.setdefault(key, value)
    return env
