"""Acceptance 3 of issue 5 and of issue 14: two Ray nodes on one machine (2 CPUs each: a worker
and Ray Data's tasks; STRICT_SPREAD), workers on different nodes, the corpus read from S3 only (a
real SeaweedFS; the workdir holds no data/), checkpoints on S3 as the storage both nodes share."""

from __future__ import annotations

import json

import mlflow
import pytest

from components.settings import load_settings
from components.stages import TRAIN as TRAIN_STAGE
from components.training.ray_trainer import dashboard_port
from components.training.storage import StorageError, resolve_storage
from infra.local.seaweedfs import SeaweedS3
from tests.distributed.conftest import TRAIN

pytestmark = pytest.mark.timeout(600)
KEY, SECRET = "clip-ray-storage-key", "clip-ray-storage-secret-0123456789"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory):
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs"), KEY, SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def aws_env(s3: SeaweedS3, use_s3) -> None:
    use_s3(s3)


@pytest.fixture
def two_node_cluster(monkeypatch: pytest.MonkeyPatch):
    """A head and a worker node, 1 CPU each, reached through RAY_ADDRESS like a real cluster."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 2,
            "include_dashboard": True,  # Train V2's state queries use it; loopback only
            "dashboard_host": "127.0.0.1",
            "dashboard_port": dashboard_port(),
        },
    )  # on 127.0.0.1: tests/conftest.py applies the loopback setting of apply_quiet_env
    cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    yield cluster
    cluster.shutdown()


def test_missing_bucket_is_a_clear_error(aws_env, tmp_path):
    with pytest.raises(StorageError, match="bucket 'no-such-bucket' .* does not exist"):
        resolve_storage(
            "s3://no-such-bucket/ray", tmp_path, tmp_path, load_settings("tiny").services.s3
        )


def test_workers_on_two_nodes_checkpoint_to_s3(aws_env, s3, two_node_cluster, train_workdir):
    import ray

    # the corpus lives on S3 alone: uploaded, then the workdir's data/ removed
    data = train_workdir / "data"
    for path in sorted(p for p in data.resolve().rglob("*") if p.is_file()):
        key = f"corpus/{path.relative_to(data.resolve()).as_posix()}"
        s3.client().put_object(Bucket=s3.bucket, Key=key, Body=path.read_bytes())
    data.unlink()
    overrides = {
        "train": {
            **TRAIN,
            "epochs": 3,
            "placement_strategy": "STRICT_SPREAD",
            "storage_path": f"s3://{s3.bucket}/ray-runs",
            "corpus": f"s3://{s3.bucket}/corpus",
        }
    }
    settings = load_settings("tiny", workdir=train_workdir, overrides=overrides)
    assert two_node_cluster.address.startswith("127.0.0.1:")
    out = TRAIN_STAGE.run(settings, run_name="two-nodes")
    assert out.steps == 3 * 6

    ray.init(address=two_node_cluster.address)
    try:
        cluster_nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    finally:
        ray.shutdown()
    client = mlflow.MlflowClient(settings.tracking_uri)
    tags = client.get_run(out.run_id).data.tags
    worker_nodes = json.loads(tags["ray.worker_nodes"])
    assert len(worker_nodes) == 2 and set(worker_nodes) == cluster_nodes  # one worker per node
    assert tags["clip.train_storage"] == f"s3://{s3.bucket}/ray-runs/two-nodes"
    assert tags["clip.train_corpus"] == f"s3://{s3.bucket}/corpus"  # read from S3 alone
    assert len(tags["data_manifest_sha256"]) == 64

    listed = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix="ray-runs/two-nodes/")
    keys = {o["Key"] for o in listed.get("Contents", [])}
    assert "ray-runs/two-nodes/clip_run.json" in keys
    checkpoints = {k.split("/")[2] for k in keys if k.endswith("/model.safetensors")}
    assert checkpoints, keys  # Ray kept the newest (num_to_keep=2) on S3
    record = json.loads((train_workdir / "artifacts" / "train" / "run.json").read_text())
    assert record["storage"] == f"s3://{s3.bucket}/ray-runs/two-nodes"
    assert (out.model_dir / "model.safetensors").is_file()
