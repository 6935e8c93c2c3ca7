"""A PostgreSQL server of the stack's own, for MLflow's backend store (`stack.mlflow_backend:
postgresql` without a `postgresql_uri`). Uses the machine's PostgreSQL binaries (initdb, postgres);
the cluster is created once in the stack folder, with a password, listening on 127.0.0.1 only.

PostgreSQL refuses to run as root: as root it runs as the `postgres` system user, which must be
able to reach the stack folder.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import subprocess
from pathlib import Path

from infra.local.service import Service, StackError, tcp_open

HOST = "127.0.0.1"
USER = "clip"
DATABASE = "mlflow"


def pg_binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if not found:
        raise StackError(
            f"PostgreSQL's `{name}` is not installed: install PostgreSQL (e.g. apt install "
            "postgresql), or set stack.postgresql_uri to an existing server, or use "
            "stack.mlflow_backend: sqlite"
        )
    return found


class LocalPostgres:
    def __init__(self, root: Path, log: Path) -> None:
        self.root, self.log = root, log
        self.data = root / "data"
        self.sockets = root / "sockets"

    def _as_owner(self, command: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return command
        return ["runuser", "-u", "postgres", "--", *command]

    def _chown(self, *paths: Path) -> None:
        if os.geteuid() == 0:
            for path in paths:
                shutil.chown(path, "postgres", "postgres")

    @property
    def password(self) -> str:
        path = self.root / "password"
        if not path.is_file():
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(16))
        return path.read_text().strip()

    def initdb(self) -> None:
        """Create the cluster once: user `clip` with a password, scram auth on loopback."""
        if (self.data / "PG_VERSION").is_file():
            return
        self.data.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        self._chown(self.data, self.sockets, pwfile)
        proc = subprocess.run(
            self._as_owner(
                [
                    pg_binary("initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    USER,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                ]
            ),
            capture_output=True,
            text=True,
        )
        pwfile.unlink()
        if proc.returncode != 0:
            raise StackError(
                f"initdb failed in {self.data}: {(proc.stderr or proc.stdout).strip()}"
            )

    def service(self, port: int) -> Service:
        command = [pg_binary("postgres"), "-D", str(self.data), "-h", HOST, "-p", str(port)]
        return Service(
            "postgres",
            self._as_owner([*command, "-k", str(self.sockets)]),
            self.log,
            lambda: tcp_open(HOST, port) and self._connects(port),
            f"postgresql://{HOST}:{port}",
            stop_signal=signal.SIGINT,  # fast shutdown: do not wait for clients to leave
            prepare=self.initdb,
            on_healthy=lambda: self.create_database(port),
        )

    def _connects(self, port: int) -> bool:
        import psycopg

        try:
            with psycopg.connect(self._dsn(port, "postgres"), connect_timeout=2):
                return True
        except psycopg.Error:
            return False

    def _dsn(self, port: int, database: str) -> str:
        return f"postgresql://{USER}:{self.password}@{HOST}:{port}/{database}"

    def create_database(self, port: int) -> None:
        """MLflow's database, created once."""
        import psycopg

        with psycopg.connect(self._dsn(port, "postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def uri(self, port: int) -> str:
        """SQLAlchemy URI for MLflow (psycopg 3 driver)."""
        return f"postgresql+psycopg://{USER}:{self.password}@{HOST}:{port}/{DATABASE}"
