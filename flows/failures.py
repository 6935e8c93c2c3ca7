"""How the retrain flow fails: the failed stage and the reason in one message (the flow run's
state, the CLI's error line), an artifact a person reads in the Prefect UI, and which failures
are worth a retry."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from components.errors import RemoteStoreError, UserError


class StageFailed(RuntimeError):
    """`stage`: the task that failed; the message says which and why."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        reason = " ".join(str(cause).split()) or type(cause).__name__
        super().__init__(f"stage {stage!r} failed: {reason}")
        self.stage, self.reason = stage, reason


class StageFailedByUser(StageFailed, UserError):
    """The cause is the user's to fix (data, parameters, an unreachable server): no traceback."""


def run_stage(stage_task: Any, *args: Any, **kwargs: Any) -> Any:
    """Call one stage's task (or subflow); a failure (after its retries) names the stage."""
    try:
        return stage_task(*args, **kwargs)
    except StageFailed:
        raise
    except Exception as err:
        kind = StageFailedByUser if isinstance(err, UserError) else StageFailed
        raise kind(stage_task.name, err) from err


def transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's retry condition: retry a failure to reach S3 or MLflow, nothing else."""
    err = state.result(raise_on_failure=False)
    return isinstance(err, RemoteStoreError | ConnectionError | TimeoutError)


def report_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """on_failure hook: log the stage and reason, and leave them as a flow-run artifact."""
    err = state.result(raise_on_failure=False)
    stage = getattr(err, "stage", None) or "(outside the stages)"
    reason = getattr(err, "reason", None) or state.message or "unknown"
    get_run_logger().error("retrain failed at stage %s: %s", stage, reason)
    create_markdown_artifact(
        key="retrain-failure",
        markdown=(
            f"## Retrain failed\\n\\n**Stage:** `{stage}`\\n\\n**Reason:** {reason}\\n\\n"
            "The stages after it did not run.\\n"
        ),
        description=f"retrain failed at {stage}",
    )
