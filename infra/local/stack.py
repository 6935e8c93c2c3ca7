"""The local stack: real servers on 127.0.0.1 that the pipeline uses instead of its embedded
defaults. SeaweedFS (S3, with keys), the MLflow tracking server (SQLite or PostgreSQL backend,
artifacts on S3), the Prefect server and a Ray head; PostgreSQL too when the stack runs it.

Everything lives in one folder (`stack.folder`, default `.stack/` in the workdir):
  state.json        the running services: PID, start time, URL, log (the PIDs `down` stops)
  credentials.json  the S3 keys, made once (0600)
  stack.env         the client variables (0600): `eval "$(clip-pipeline stack env)"`
  logs/             one log per service
  s3/ mlflow/ prefect/ postgres/   their data, kept across restarts
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from components.settings import QUIET_ENV, Settings, StackConfig
from infra.local import service
from infra.local.postgres import LocalPostgres
from infra.local.seaweedfs import SeaweedS3
from infra.local.service import (
    Service,
    StackError,
    free_port,
    http_ok,
    port_or_free,
    tcp_open,
)

HOST = "127.0.0.1"
# the services' usual ports, taken when free
USUAL_PORTS = {"s3": 8333, "mlflow": 5000, "prefect": 4200, "ray": 6379, "ray_dashboard": 8265}
_RAY_PORTS = (
    "node-manager-port",
    "object-manager-port",
    "ray-client-server-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "runtime-env-agent-port",
    "metrics-export-port",
)


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    healthy: bool
    pid: int | None
    url: str
    log: str


def _bin(name: str) -> str:
    """A console script of this environment (beside the interpreter), else from PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if not found:
        raise StackError(f"`{name}` is not installed in this environment")
    return found


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


class LocalStack:
    def __init__(self, root: Path, config: StackConfig | None = None) -> None:
        self.root = Path(root).resolve()
        self.config = config or StackConfig()
        self.state_file = self.root / "state.json"
        self.env_file = self.root / "stack.env"

    @classmethod
    def of(cls, settings: Settings) -> LocalStack:
        """The stack of these settings: `stack.folder` under the workdir, `stack:` options."""
        return cls(settings.stack_root, settings.stack)

    # ---- state -----------------------------------------------------------------------------
    def state(self) -> dict:
        if not self.state_file.is_file():
            return {}
        return json.loads(self.state_file.read_text())

    def _save(self, state: dict) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)  # never a half-written state: `down` relies on it

    def _credentials(self) -> dict[str, str]:
        path = self.root / "credentials.json"
        if not path.is_file():
            keys = {
                "access_key": "clip" + secrets.token_hex(8),
                "secret_key": secrets.token_hex(20),
            }
            _write_private(path, json.dumps(keys))
        return json.loads(path.read_text())

    def _ports(self, state: dict) -> dict[str, int]:
        """Chosen once, then kept: clients and stored configs keep working across restarts."""
        ports = state.get("ports") or {}
        for name, usual in USUAL_PORTS.items():
            ports.setdefault(name, port_or_free(usual))
        for name in _RAY_PORTS:
            ports.setdefault(f"ray_{name}", free_port())
        return ports

    @property
    def ray_temp_dir(self) -> Path:
        # Ray's socket paths must stay under 107 characters: a short folder in the temp dir.
        tag = hashlib.sha1(str(self.root).encode()).hexdigest()[:8]
        return Path(tempfile.gettempdir()) / f"clip-stack-{tag}"

    # ---- what each service is --------------------------------------------------------------
    def _s3(self, state: dict) -> SeaweedS3:
        keys = self._credentials()
        s3 = SeaweedS3(self.root / "s3", keys["access_key"], keys["secret_key"], self.config.bucket)
        s3.ports = state.setdefault("seaweed_ports", {})
        s3.s3_port = state["ports"]["s3"]
        return s3

    def client_env(self, state: dict | None = None) -> dict[str, str]:
        """The variables that point the pipeline (and any client) at this stack."""
        state = state or self.state()
        ports, keys, bucket = state["ports"], self._credentials(), self.config.bucket
        return {
            "MLFLOW_TRACKING_URI": f"http://{HOST}:{ports['mlflow']}",
            "PREFECT_API_URL": f"http://{HOST}:{ports['prefect']}/api",
            "RAY_ADDRESS": f"{HOST}:{ports['ray']}",
            "AWS_ACCESS_KEY_ID": keys["access_key"],
            "AWS_SECRET_ACCESS_KEY": keys["secret_key"],
            "AWS_ENDPOINT_URL_S3": f"http://{HOST}:{ports['s3']}",
            "CLIP_DVC_REMOTE": f"s3://{bucket}/dvcstore",
            "CLIP_STORAGE_PATH": f"s3://{bucket}/ray",
            # the head is on 127.0.0.1: a driver must be too (Ray otherwise swaps 127.0.0.1 for
            # this machine's interface address, where nothing listens)
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        }

    def _services(self, state: dict) -> list[Service]:
        """Every service of this stack, in start order (building them starts nothing)."""
        client = self.client_env(state)
        postgres, first = None, []
        if self.config.mlflow_backend == "postgresql" and not self.config.postgresql_uri:
            postgres = LocalPostgres(self.root / "postgres", self.root / "logs" / "postgres.log")
            # first, and before MLflow's URI is made: it is MLflow's backend, on this port
            first = [postgres.service(state.setdefault("postgres_port", free_port()))]
        return [
            *first,
            self._s3(state).service(self.root / "logs" / "seaweedfs.log"),
            self._mlflow(state, client, postgres),
            self._prefect(state, client),
            self._ray(state, client),
        ]

    def _mlflow(self, state: dict, client: dict, postgres: LocalPostgres | None) -> Service:
        folder = self.root / "mlflow"
        if self.config.mlflow_backend == "sqlite":
            backend = f"sqlite:///{folder / 'mlflow.db'}"
        else:
            backend = self.config.postgresql_uri or postgres.uri(state["postgres_port"])
        url = client["MLFLOW_TRACKING_URI"]
        return Service(
            "mlflow",
            [
                _bin("mlflow"),
                "server",
                "--host",
                HOST,
                "--port",
                str(state["ports"]["mlflow"]),
                "--workers",
                "1",
                "--backend-store-uri",
                backend,
                "--artifacts-destination",
                f"s3://{self.config.bucket}/mlflow",
            ],
            self.root / "logs" / "mlflow.log",
            lambda: http_ok(f"{url}/health", "OK"),
            url,
            {
                **QUIET_ENV,
                "MLFLOW_S3_ENDPOINT_URL": client["AWS_ENDPOINT_URL_S3"],
                "AWS_ACCESS_KEY_ID": client["AWS_ACCESS_KEY_ID"],
                "AWS_SECRET_ACCESS_KEY": client["AWS_SECRET_ACCESS_KEY"],
                "AWS_DEFAULT_REGION": "us-east-1",
                # one quick retry per S3 request: the client and the flow retry too, and
                # retries at three levels multiply into minutes per outage
                "AWS_RETRY_MODE": "standard",
                "AWS_MAX_ATTEMPTS": "2",
            },
            prepare=lambda: folder.mkdir(parents=True, exist_ok=True),
        )

    def _prefect(self, state: dict, client: dict) -> Service:
        port = state["ports"]["prefect"]
        url = f"http://{HOST}:{port}"
        return Service(
            "prefect",
            [_bin("prefect"), "server", "start", "--host", HOST, "--port", str(port)],
            self.root / "logs" / "prefect.log",
            lambda: http_ok(f"{url}/api/health", "true"),
            url,
            {
                **QUIET_ENV,
                "PREFECT_HOME": str(self.root / "prefect"),
                "PREFECT_API_URL": client["PREFECT_API_URL"],
            },
        )

    def _ray(self, state: dict, client: dict) -> Service:
        ports = state["ports"]
        dashboard = f"http://{HOST}:{ports['ray_dashboard']}"
        return Service(
            "ray",
            [
                _bin("ray"),
                "start",
                "--head",
                "--block",
                f"--node-ip-address={HOST}",
                f"--port={ports['ray']}",
                f"--dashboard-host={HOST}",
                f"--dashboard-port={ports['ray_dashboard']}",
                f"--num-cpus={self.config.ray_num_cpus or 2 * (os.cpu_count() or 1)}",
                f"--temp-dir={self.ray_temp_dir}",
                "--disable-usage-stats",
                *(f"--{name}={ports[f'ray_{name}']}" for name in _RAY_PORTS),
            ],
            self.root / "logs" / "ray.log",
            # the GCS answers before the raylet is up, and still answers when the raylet died
            # starting (a port taken): the node manager must listen too
            lambda: (
                http_ok(f"{dashboard}/api/gcs_healthz", "success")
                and tcp_open(HOST, ports["ray_node-manager-port"])
            ),
            dashboard,
            # the training workers run here: they reach MLflow and S3 like the driver
            {**QUIET_ENV, **client},
            # Ray keeps nothing we need across a stop (checkpoints are in S3); some of its
            # processes linger for half a minute after SIGTERM
            stop_timeout_s=5,
        )

    # ---- commands --------------------------------------------------------------------------
    def up(self, progress=print) -> dict[str, str]:
        """Start every service that is not running (all of them the first time), wait until
        each is healthy, write stack.env. A service that fails stops what this call started."""
        self.root.mkdir(parents=True, exist_ok=True)
        state = self.state()
        state["ports"] = self._ports(state)
        state.setdefault("services", {})
        started: list[str] = []
        try:
            for svc in self._services(state):
                record = state["services"].get(svc.name)
                if record and service.alive(record):
                    progress(f"{svc.name:9s} running   {record['url']}  (pid {record['pid']})")
                    continue
                record = svc.start()
                state["services"][svc.name] = record
                started.append(svc.name)
                self._save(state)  # recorded before waiting: `down` can stop it whatever happens
                service.wait_healthy(svc.name, record, svc.healthy, self.config.start_timeout_s)
                if svc.on_healthy:
                    svc.on_healthy()
                progress(f"{svc.name:9s} started   {svc.url}  (pid {record['pid']})")
        except StackError:
            for name in reversed(started):
                service.stop(state["services"].pop(name))
            self._save(state)
            raise
        env = self.client_env(state)
        _write_private(self.env_file, "".join(f"export {k}={v}\n" for k, v in env.items()))
        return env

    def stop_service(self, name: str, sig: int | None = None) -> bool:
        """Stop one service (`sig`: e.g. SIGKILL, a crash); `up` starts it again."""
        record = self.state().get("services", {}).get(name)
        return bool(record) and service.stop(record, sig=sig)

    def down(self, progress=print) -> list[str]:
        """Stop the recorded services, newest first; the data folders stay."""
        state = self.state()
        stopped = []
        for name, record in reversed(list(state.get("services", {}).items())):
            was_running = service.stop(record)
            progress(f"{name:9s} {'stopped' if was_running else 'was not running'}")
            if was_running:
                stopped.append(name)
        if self.state_file.exists():
            self.state_file.unlink()
        if self.env_file.exists():
            self.env_file.unlink()
        return stopped

    def status(self) -> list[ServiceStatus]:
        state = self.state()
        out = []
        checks = {svc.name: svc.healthy for svc in self._services(state)} if state else {}
        for name, record in state.get("services", {}).items():
            running = service.alive(record)
            healthy = running and name in checks and checks[name]()
            out.append(
                ServiceStatus(name, running, healthy, record["pid"], record["url"], record["log"])
            )
        return out
