"""The local stack with `stack.mlflow_backend: postgresql`: the stack runs its own PostgreSQL
(the machine's initdb/postgres) and the MLflow server keeps runs and the registry there."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from components.settings import StackConfig
from infra.local import service
from infra.local.postgres import DATABASE, pg_binary
from infra.local.service import StackError
from infra.local.stack import LocalStack


def _postgres_installed() -> bool:
    try:
        pg_binary("initdb")
        pg_binary("postgres")
        return True
    except StackError:
        return False


pytestmark = pytest.mark.skipif(
    not _postgres_installed(), reason="PostgreSQL's initdb/postgres are not installed"
)


@pytest.fixture
def stack_root():
    # As root, PostgreSQL runs as the `postgres` user, who must reach the folder: pytest's own
    # temporary folders are private to root, so this one is made readable.
    root = Path(tempfile.mkdtemp(prefix="clip-stack-pg-"))
    root.chmod(0o755)
    yield root / "stack"
    shutil.rmtree(root, ignore_errors=True)


def test_mlflow_keeps_runs_and_registry_in_the_stacks_postgresql(stack_root: Path) -> None:
    import mlflow
    import psycopg

    stack = LocalStack(stack_root, StackConfig(mlflow_backend="postgresql"))
    try:
        stack.up(progress=lambda line: None)
        state = stack.state()
        assert set(state["services"]) == {"postgres", "seaweedfs", "mlflow", "prefect", "ray"}
        uri = stack.client_env()["MLFLOW_TRACKING_URI"]
        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        experiment = client.create_experiment("pg-check")
        run = client.create_run(experiment)
        client.log_metric(run.info.run_id, "loss", 0.25)
        client.create_registered_model("pg-model")
        client.create_model_version("pg-model", f"runs:/{run.info.run_id}/m", run.info.run_id)

        # the rows are in PostgreSQL, and no SQLite store was made
        port, password = state["postgres_port"], (stack.root / "postgres" / "password").read_text()
        dsn = f"postgresql://clip:{password.strip()}@127.0.0.1:{port}/{DATABASE}"
        with psycopg.connect(dsn) as conn:
            (value,) = conn.execute(
                "SELECT value FROM metrics WHERE run_uuid = %s AND key = 'loss'",
                (run.info.run_id,),
            ).fetchone()
            (versions,) = conn.execute(
                "SELECT count(*) FROM model_versions WHERE name = 'pg-model'"
            ).fetchone()
        assert value == pytest.approx(0.25) and versions == 1
        assert not (stack.root / "mlflow" / "mlflow.db").exists()
        # the server listens on loopback only
        listen = state["services"]["postgres"]["url"]
        assert listen.startswith("postgresql://127.0.0.1:")
    finally:
        records = list(stack.state().get("services", {}).values())
        stack.down(progress=lambda line: None)
    assert records and not any(service.alive(record) for record in records)
    assert os.path.isdir(stack.root / "postgres" / "data")  # the data stays for the next up
