"""How the retrain flow fails: the stage named in the error, and retries only for S3/MLflow.
(No __init__.py here: a package `flows` under tests/ would shadow the project's.)"""

from __future__ import annotations

import pytest
from prefect.states import Failed

from components.errors import RemoteStoreError, UserError
from flows.failures import StageFailed, StageFailedByUser, run_stage, transient


class _Stage:
    """Stands for a Prefect task: a name, and a call that fails with `error`."""

    def __init__(self, name: str, error: Exception) -> None:
        self.name, self.error = name, error

    def __call__(self, *args, **kwargs):
        raise self.error


def test_a_user_error_names_the_stage_and_stays_a_user_error() -> None:
    cause = RemoteStoreError("S3 at http://127.0.0.1:9 is unreachable")
    with pytest.raises(StageFailedByUser) as failure:
        run_stage(_Stage("evaluate", cause), "settings")
    assert str(failure.value) == "stage 'evaluate' failed: S3 at http://127.0.0.1:9 is unreachable"
    assert isinstance(failure.value, UserError)  # the CLI prints one line, no traceback
    assert failure.value.stage == "evaluate" and failure.value.__cause__ is cause


def test_a_bug_names_the_stage_and_keeps_its_traceback() -> None:
    with pytest.raises(StageFailed) as failure:
        run_stage(_Stage("train", KeyError("weights")), "settings")
    assert not isinstance(failure.value, UserError)
    assert str(failure.value) == "stage 'train' failed: 'weights'"


def test_a_stage_failure_is_not_wrapped_twice() -> None:
    inner = StageFailed("promote", ValueError("no version"))
    with pytest.raises(StageFailed) as failure:
        run_stage(_Stage("promote", inner))
    assert failure.value is inner


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (RemoteStoreError("S3 down"), True),
        (ConnectionRefusedError("refused"), True),
        (TimeoutError("slow"), True),
        (UserError("bad parameter"), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_failures_to_reach_s3_or_mlflow_are_retried(error: Exception, retried: bool) -> None:
    # Prefect hands the condition a Failed state holding the exception
    assert transient(None, None, Failed(data=error)) is retried
