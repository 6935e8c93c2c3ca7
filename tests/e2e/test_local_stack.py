"""The pipeline against the local stack of real servers (issue 7): SeaweedFS, the MLflow server,
the Prefect server and a Ray head, started by `infra/local` on 127.0.0.1 in a temporary folder.

- the retrain flow on `tiny` keeps its MLflow artifacts, the DVC remote and the Ray checkpoints
  in S3, and its run is COMPLETED in the Prefect API;
- prefect.yaml's deployments register (the weekly cron, watch-data's interval, the trigger on
  clip.data.changed); new shards under a user source's S3 prefix are seen by watch-data, whose
  event starts a retrain on a process worker;
- S3 stopped mid-pipeline: the S3 step retries, the flow fails naming S3 and the stage, nothing
  is registered; with S3 back, a rerun completes.

Orchestration is under test here, not accuracy: three epochs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml

from components.settings import PROJECT_ROOT
from infra.local import service
from infra.local.stack import LocalStack

BIN = Path(sys.executable).parent
EPOCHS = "train.epochs=3"
FLOW_TIMEOUT_S = 600
# variables a test session may hold that must not leak into the runs: the stack sets its own
_SERVER_VARS = (
    "PREFECT_API_URL",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "RAY_ADDRESS",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "CLIP_DVC_REMOTE",
    "CLIP_STORAGE_PATH",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER",
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    stack = LocalStack(tmp_path_factory.mktemp("stack"))
    stack.up()
    yield stack
    records = list(stack.state()["services"].values())
    stack.down()
    assert not any(service.alive(record) for record in records), "a stack process survived"


def _env(stack: LocalStack, tmp_path: Path, with_stack_vars: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SERVER_VARS}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    if with_stack_vars:  # a worker is told where the Prefect server is, like a user would
        env |= stack.client_env()
    return env


def _cli(stack: LocalStack, workdir: Path, *args: str) -> list[str]:
    return [
        str(BIN / "clip-pipeline"), "--profile", "tiny", "--workdir", str(workdir),
        "--set", f"stack.folder={stack.root}", "--set", EPOCHS, *args,
    ]  # fmt: skip


def _s3_keys(stack: LocalStack, prefix: str) -> list[str]:
    import boto3

    env = stack.client_env()
    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=stack.config.bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def _prefect(stack: LocalStack) -> httpx.Client:
    return httpx.Client(base_url=stack.client_env()["PREFECT_API_URL"], timeout=30)


def _flow_runs_of(api: httpx.Client, workdir: Path) -> list[dict]:
    """The retrain flow runs whose `workdir` parameter is this test's, oldest first."""
    runs = api.post(
        "/flow_runs/filter",
        json={"flows": {"name": {"any_": ["retrain"]}}, "sort": "START_TIME_ASC"},
    ).json()
    return [run for run in runs if run["parameters"].get("workdir") == str(workdir)]


def _task_runs(api: httpx.Client, flow_run_id: str) -> dict[str, dict]:
    """Task name (without Prefect's suffix) -> its task run."""
    runs = api.post("/task_runs/filter", json={"flow_runs": {"id": {"any_": [flow_run_id]}}}).json()
    return {run["task_key"].rsplit("-", 1)[0]: run for run in runs}


def _mlflow(stack: LocalStack):
    import mlflow

    uri = stack.client_env()["MLFLOW_TRACKING_URI"]
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _versions(stack: LocalStack, model_name: str) -> list:
    return _mlflow(stack).search_model_versions(f"name = '{model_name}'")


def _data_md5(workdir: Path) -> str:
    return yaml.safe_load((workdir / "data.dvc").read_text())["outs"][0]["md5"]


def test_stack_status_reports_every_service_healthy(stack: LocalStack, tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "clip-pipeline"), "--set", f"stack.folder={stack.root}", "stack", "status"],
        env=_env(stack, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()}
    assert set(lines) == {"seaweedfs", "mlflow", "prefect", "ray"}
    assert all(" healthy " in line and "127.0.0.1" in line for line in lines.values())
    # every service logs into the stack's folder
    assert all(Path(line.split()[-1]).is_relative_to(stack.root) for line in lines.values())


def test_retrain_keeps_everything_on_the_stack(
    stack: LocalStack, workdir_with_sources: Path, tmp_path: Path
) -> None:
    workdir = workdir_with_sources
    proc = subprocess.run(
        _cli(stack, workdir, "run"),
        env=_env(stack, tmp_path),
        capture_output=True,
        text=True,
        timeout=FLOW_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "using the local stack" in proc.stderr

    # DVC: the corpus version of data.dvc is in the S3 remote
    md5 = _data_md5(workdir)
    dvc_keys = _s3_keys(stack, "dvcstore/")
    assert f"dvcstore/files/md5/{md5[:2]}/{md5[2:]}" in dvc_keys
    # one object per distinct file content of the corpus, plus the .dir listing
    contents = {
        hashlib.md5(p.read_bytes()).hexdigest()
        for p in (workdir / "data").rglob("*")
        if p.is_file()
    }
    assert len(dvc_keys) == len(contents) + 1

    # MLflow: the registered version's run has its artifacts on S3, behind the server
    (version,) = _versions(stack, "clip-zeroshot")
    run = _mlflow(stack).get_run(version.run_id)
    prefix = f"mlflow/{run.info.experiment_id}/{run.info.run_id}/artifacts/"
    mlflow_keys = _s3_keys(stack, prefix)
    for expected in ("onnx/image_encoder.onnx", "onnx/text_encoder.onnx", "metrics.json"):
        assert prefix + expected in mlflow_keys
    assert any(key.startswith(prefix + "eval_plots/") for key in mlflow_keys)
    assert any(key.endswith("/MLmodel") for key in _s3_keys(stack, "mlflow/"))

    # Ray: the checkpoints went to S3, and the training ran on the stack's Ray head
    assert any("/checkpoint_" in key for key in _s3_keys(stack, "ray/"))
    dashboard = stack.state()["services"]["ray"]["url"]
    jobs = httpx.get(f"{dashboard}/api/jobs/", timeout=30).json()
    assert any(job["type"] == "DRIVER" and job["status"] == "SUCCEEDED" for job in jobs)

    # Prefect: the flow run and each of its stages COMPLETED on the stack's server
    with _prefect(stack) as api:
        (flow_run,) = _flow_runs_of(api, workdir)
        assert flow_run["state_type"] == "COMPLETED"
        tasks = _task_runs(api, flow_run["id"])
        # promotion held the model's one-slot global concurrency limit, and gave it back
        slot = api.get("/v2/concurrency_limits/promote-clip-zeroshot").json()
        assert (slot["limit"], slot["active_slots"]) == (1, 0)
    stages = ("build_corpus", "version_data", "validate", "train", "evaluate", "log_evaluation")
    for name in (*stages, "export", "register"):
        assert tasks[name]["state_type"] == "COMPLETED", name


def _user_shard(first: int, n: int) -> bytes:
    """A WebDataset shard of `n` distinct JPEG photos with captions, keys from `first` on."""
    import io
    import tarfile

    from PIL import Image

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for index in range(first, first + n):
            image = io.BytesIO()
            colour = (index * 37 % 256, index * 91 % 256, index * 53 % 256)
            Image.new("RGB", (48, 36), colour).save(image, "JPEG", quality=90)
            caption = f"a photo of swatch number {index}".encode()
            for ext, body in (("jpg", image.getvalue()), ("txt", caption)):
                info = tarfile.TarInfo(f"{index:09d}.{ext}")
                info.size = len(body)
                archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def _put(stack: LocalStack, key: str, body: bytes) -> None:
    import boto3

    env = stack.client_env()
    boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    ).put_object(Bucket=stack.config.bucket, Key=key, Body=body)


def _user_splits(workdir: Path) -> dict[str, str]:
    import pandas as pd

    manifest = pd.read_parquet(workdir / "data" / "manifest.parquet")
    user = manifest[manifest["source"] == "user"]
    return dict(zip(user["image_sha256"], user["split"], strict=True))


def _answer(api: httpx.Client, method: str, path: str, **kwargs: object) -> dict:
    """The server's JSON answer to one call. The server's SQLite database can be busy for a
    moment on a loaded 2-core machine (a 5xx, or no answer within the timeout): asked again,
    a few times; any other refusal fails the test with the server's own words."""
    for attempt in range(5):
        try:
            response = api.request(method, path, **kwargs)
        except httpx.TransportError:
            if attempt == 4:
                raise
        else:
            if response.status_code < 500 or attempt == 4:
                said = f"{method} {path}: {response.status_code} {response.text}"
                assert response.is_success, said
                return response.json()
        time.sleep(2)
    raise AssertionError("unreachable")


def _run_deployment(api: httpx.Client, deployment: dict, parameters: dict) -> dict:
    """One run of `deployment`, created now and waited for (a worker polls the pool)."""
    path = f"/deployments/{deployment['id']}/create_flow_run"
    run = _answer(api, "POST", path, json={"parameters": parameters})
    deadline = time.monotonic() + 180
    while run["state_type"] not in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
        assert time.monotonic() < deadline, f"{deployment['name']} run not done: {run['state']}"
        time.sleep(1)
        run = _answer(api, "GET", f"/flow_runs/{run['id']}")
    return run


def _artifact_keys(api: httpx.Client, flow_run_id: str) -> set[str]:
    found = api.post(
        "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}}
    ).json()
    return {item["key"] for item in found if item.get("key")}


def _unschedule(api: httpx.Client, deployment: dict) -> None:
    """Remove the deployment's schedules and the runs the scheduler already laid out (it
    looks at a new deployment every few seconds: once more after a pause)."""
    for schedule in deployment["schedules"]:
        api.delete(f"/deployments/{deployment['id']}/schedules/{schedule['id']}").raise_for_status()
    for _ in range(2):
        laid_out = api.post(
            "/flow_runs/filter",
            json={
                "flow_runs": {
                    "deployment_id": {"any_": [deployment["id"]]},
                    "state": {"type": {"any_": ["SCHEDULED"]}},
                }
            },
        ).json()
        for run in laid_out:
            api.delete(f"/flow_runs/{run['id']}").raise_for_status()
        time.sleep(6)


def test_new_data_under_s3_triggers_a_retrain_on_a_worker(
    stack: LocalStack, workdir_with_sources: Path, tmp_path: Path
) -> None:
    """prefect.yaml's deployments on the stack's server, one process worker. A corpus with a
    user source on S3 is built; a watch-data run sees nothing new. A second shard under the
    prefix: the next watch-data run emits clip.data.changed, the retrain deployment's trigger
    starts a retrain with the watch's parameters, and it registers a new data version and a
    model version from more samples; the samples there before keep their splits. Then the
    weekly cron lays out its Monday runs."""
    env = _env(stack, tmp_path, with_stack_vars=True)
    prefect = str(BIN / "prefect")
    for command in (
        [prefect, "--no-prompt", "work-pool", "create", "clip-pipeline", "--type", "process"],
        [prefect, "--no-prompt", "deploy", "--all"],
    ):
        proc = subprocess.run(
            command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr

    workdir, bucket = workdir_with_sources, stack.config.bucket
    prefix = f"s3://{bucket}/incoming-{workdir.name}/"
    _put(stack, f"incoming-{workdir.name}/part-00000.tar", _user_shard(0, 12))
    built = subprocess.run(
        _cli(stack, workdir, "--set", f"data.user_sources=[{prefix}]", "data", "build"),
        env=_env(stack, tmp_path),
        capture_output=True,
        text=True,
        timeout=FLOW_TIMEOUT_S,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    before = _user_splits(workdir)
    samples_before = json.loads((workdir / "data" / "card.json").read_text())["counts"]["samples"]
    assert len(before) == 12
    versions_before = {v.version for v in _versions(stack, "clip-zeroshot")}

    spec = {
        d["name"]: d
        for d in yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())["deployments"]
    }
    parameters = {
        "profile": "tiny",
        "workdir": str(workdir),
        "overrides": {
            "train": {"epochs": 3},
            "stack": {"folder": str(stack.root)},
            "data": {"user_sources": [prefix]},
        },
    }
    with _prefect(stack) as api:
        watch = api.get("/deployments/name/watch-data/watch-data").json()
        (interval,) = watch["schedules"]
        assert interval["schedule"]["interval"] == spec["watch-data"]["schedules"][0]["interval"]
        _unschedule(api, watch)  # its own runs would watch the checkout's workdir: not in a test
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [prefect, "worker", "start", "--pool", "clip-pipeline"],
        cwd=tmp_path, env=env, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        with _prefect(stack) as api:
            weekly = api.get("/deployments/name/retrain/weekly").json()
            # prefect.yaml's trigger is an automation on the server that runs `weekly`
            automations = api.post("/automations/filter", json={}).json()
            linked = [a for a in automations if any(
                action.get("deployment_id") == weekly["id"] for action in a["actions"]
            )]  # fmt: skip
            assert [a["trigger"]["expect"] for a in linked] == [["clip.data.changed"]]

            quiet = _run_deployment(api, watch, parameters)
            assert quiet["state_type"] == "COMPLETED"
            assert "data-changed" not in _artifact_keys(api, quiet["id"])
            assert not _flow_runs_of(api, workdir)

            _put(stack, f"incoming-{workdir.name}/part-00001.tar", _user_shard(12, 12))
            changed = _run_deployment(api, watch, parameters)
            assert changed["state_type"] == "COMPLETED"
            assert "data-changed" in _artifact_keys(api, changed["id"])

            deadline, runs = time.monotonic() + FLOW_TIMEOUT_S, []
            while not (runs and runs[0]["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED")):
                assert time.monotonic() < deadline, "no triggered retrain finished"
                assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
                time.sleep(2)
                runs = _flow_runs_of(api, workdir)
            (retrain,) = runs
            assert retrain["state_type"] == "COMPLETED", (tmp_path / "worker.log").read_text()[
                -4000:
            ]
            assert retrain["deployment_id"] == weekly["id"]
            assert retrain["parameters"]["overrides"] == parameters["overrides"]  # a dict, kept
    finally:
        worker.terminate()
        worker.wait(60)
        log.close()

    # a new data version, with the new shard's samples, and a model version made from it
    after = _user_splits(workdir)
    card = json.loads((workdir / "data" / "card.json").read_text())
    assert len(after) == 24 and card["counts"]["samples"] > samples_before
    assert {sha: after[sha] for sha in before} == before  # no sample moved between splits
    (new,) = [v for v in _versions(stack, "clip-zeroshot") if v.version not in versions_before]
    assert new.tags["data_dvc_md5"] == _data_md5(workdir)
    assert f"{card['counts']['samples']:,} samples" in new.description

    with _prefect(stack) as api:
        # the scheduler lays out the coming runs at the cron's times (its loop: every 60 s)
        starts: list[str] = []
        deadline = time.monotonic() + 150
        while not starts and time.monotonic() < deadline:
            upcoming = api.post(
                "/flow_runs/filter",
                json={"flow_runs": {"deployment_id": {"any_": [weekly["id"]]}}},
            ).json()
            starts = sorted(
                run["expected_start_time"] for run in upcoming if run["state_type"] == "SCHEDULED"
            )
            time.sleep(2)
        assert starts, "no scheduled run was created from the cron"
        # the default "0 3 * * 1": Mondays at 03:00 UTC
        first = _when(starts[0])
        assert (first.weekday(), first.hour, first.minute) == (0, 3, 0)


def _when(iso: str | None) -> datetime:
    """A Prefect API timestamp; None (never) is the earliest time."""
    if not iso:
        return datetime.min.replace(tzinfo=UTC)
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _wait_for_task(api: httpx.Client, workdir: Path, task: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + FLOW_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the flow ended before its train stage completed"
        for flow_run in _flow_runs_of(api, workdir):
            if _task_runs(api, flow_run["id"]).get(task, {}).get("state_type") == "COMPLETED":
                return
        time.sleep(0.5)
    raise TimeoutError(f"{task} did not complete")


def test_s3_outage_mid_pipeline_retries_fails_cleanly_then_reruns(
    stack: LocalStack, workdir_with_sources: Path, tmp_path: Path
) -> None:
    workdir, model = workdir_with_sources, "clip-outage"
    command = _cli(stack, workdir, "--set", f"registry.model_name={model}", "run")
    log = tmp_path / "run.log"
    endpoint = stack.client_env()["AWS_ENDPOINT_URL_S3"]
    with log.open("w") as out, _prefect(stack) as api:
        proc = subprocess.Popen(
            command, env=_env(stack, tmp_path), stdout=out, stderr=subprocess.STDOUT
        )
        try:
            _wait_for_task(api, workdir, "train", proc)
            # S3 crashes after training: the evaluation's figures go to MLflow's store, S3
            assert stack.stop_service("seaweedfs", sig=signal.SIGKILL)
            rc = proc.wait(FLOW_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
        output = log.read_text()
        assert rc == 2, output[-4000:]  # a clear error, not a traceback
        error = [line for line in output.splitlines() if line.startswith("error:")]
        assert error and "stage 'log-evaluation' failed" in error[0], output[-3000:]
        assert "S3" in error[0], output[-3000:]

        (failed,) = _flow_runs_of(api, workdir)
        assert failed["state_type"] == "FAILED"
        tasks = _task_runs(api, failed["id"])
        assert tasks["evaluate"]["run_count"] == 1  # computed once, then logging retried alone
        assert tasks["log_evaluation"]["run_count"] == 4  # the first try and three retries
        assert tasks["log_evaluation"]["state_type"] == "FAILED"
        assert "register" not in tasks and "export" not in tasks
        artifacts = api.post(
            "/artifacts/filter",
            json={
                "artifacts": {
                    "key": {"any_": ["retrain-failure"]},
                    "flow_run_id": {"any_": [failed["id"]]},
                }
            },
        ).json()
        assert artifacts and "`log-evaluation`" in artifacts[0]["data"]

        # nothing registered: the model name does not exist in the registry
        assert _versions(stack, model) == []

        # S3 back (same endpoint, same data): a rerun completes and registers version 1. The
        # corpus folder is deleted first: a cached step whose output is gone runs again, and
        # the step after it, given the same corpus, comes from Prefect's cache
        stack.up(progress=lambda line: None)
        assert stack.client_env()["AWS_ENDPOINT_URL_S3"] == endpoint
        shutil.rmtree(workdir / "data")
        rerun = subprocess.run(
            command,
            env=_env(stack, tmp_path),
            capture_output=True,
            text=True,
            timeout=FLOW_TIMEOUT_S,
        )
        assert rerun.returncode == 0, rerun.stdout[-4000:] + rerun.stderr[-4000:]
        assert [v.version for v in _versions(stack, model)] == ["1"]
        completed = _flow_runs_of(api, workdir)[-1]
        assert completed["state_type"] == "COMPLETED"
        assert json.dumps(completed["parameters"]) == json.dumps(failed["parameters"])
        states = {name: run["state_name"] for name, run in _task_runs(api, completed["id"]).items()}
        assert states["build_corpus"] == "Completed", states  # its output was gone: built again
        assert states["validate"] == "Cached", states  # same corpus, parameters and code
        assert states["train"] == "Completed", states  # the model steps always run
        assert (workdir / "data" / "card.json").is_file()


def test_serve_serves_the_same_schedule_until_stopped(stack: LocalStack, tmp_path: Path) -> None:
    """`clip-pipeline serve`: prefect.yaml's cron and limit, the CLI's profile as a parameter,
    watch-data beside it; on Ctrl-C both schedules are paused (no runs pile up while nothing
    serves them)."""
    spec = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())["deployments"][0]
    command = [
        str(BIN / "clip-pipeline"), "--profile", "tiny", "--set", f"stack.folder={stack.root}",
        "--workdir", str(tmp_path / "served"), "serve", "--watch-every", "86400",
    ]  # fmt: skip
    log = tmp_path / "serve.log"
    started = datetime.now(UTC)
    with log.open("w") as out, _prefect(stack) as api:
        proc = subprocess.Popen(command, env=_env(stack, tmp_path), stdout=out, stderr=out)
        try:
            # served: the deployment carries the CLI's profile, and the runner polls for runs
            # (only a started runner pauses the schedule when it stops)
            deadline, deployment = time.monotonic() + 120, {}
            while not (
                deployment.get("parameters", {}).get("profile") == "tiny"
                and _when(deployment.get("last_polled")) > started
            ):
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(1)
                deployment = api.get("/deployments/name/retrain/weekly").json()
            (schedule,) = deployment["schedules"]
            assert schedule["schedule"]["cron"] == spec["schedules"][0]["cron"]
            assert schedule["active"] and not deployment["paused"]
            assert deployment["global_concurrency_limit"]["limit"] == spec["concurrency_limit"]
            # and watch-data beside it, with the same parameters, at the interval asked
            watch = api.get("/deployments/name/watch-data/watch-data").json()
            assert watch["parameters"]["workdir"] == str(tmp_path / "served")
            assert watch["schedules"][0]["schedule"]["interval"] == 86400
            proc.send_signal(signal.SIGINT)
            assert proc.wait(60) in (0, 130), log.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
        assert api.get(f"/deployments/{deployment['id']}").json()["paused"]
        assert api.get(f"/deployments/{watch['id']}").json()["paused"]
