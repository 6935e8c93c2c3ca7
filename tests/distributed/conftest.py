"""A tiny corpus built and validated once, and helpers to run and kill real training runs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from components.settings import PROJECT_ROOT, load_settings

# 6 steps per epoch on the tiny corpus, checkpoints every 7: every checkpoint but the last
# falls mid-epoch, and 12 epochs leave a few seconds of training to interrupt
TRAIN = {"global_batch_size": 16, "epochs": 12, "checkpoint_every_steps": 7}


def sets(**train) -> list[str]:
    return [arg for k, v in {**TRAIN, **train}.items() for arg in ("--set", f"train.{k}={v}")]


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory, sources_dir: Path) -> Path:
    """A workdir holding the tiny profile's corpus and its validation report."""
    from components.stages import BUILD, VALIDATE

    root = tmp_path_factory.mktemp("tiny-corpus")
    (root / ".cache").mkdir()
    (root / ".cache" / "sources").symlink_to(sources_dir, target_is_directory=True)
    settings = load_settings("tiny", workdir=root)
    BUILD.run(settings)
    VALIDATE.run(settings)
    return root


@pytest.fixture
def train_workdir(tmp_path: Path, tiny_corpus: Path) -> Path:
    """A fresh workdir (own artifacts and MLflow store) over the shared tiny corpus."""
    (tmp_path / "data").symlink_to(tiny_corpus / "data", target_is_directory=True)
    validation = tiny_corpus / "artifacts" / "validation"
    shutil.copytree(validation, tmp_path / "artifacts" / "validation")
    return tmp_path


def train_command(workdir: Path, run_name: str, **train) -> list[str]:
    return [
        sys.executable, "-m", "clip_pipeline.cli", "--profile", "tiny", "--workdir", str(workdir),
        *sets(**train), "train", "--run-name", run_name,
    ]  # fmt: skip


class TrainProcess:
    """`clip-pipeline train` in its own session, so a kill takes its local Ray with it."""

    def __init__(self, workdir: Path, run_name: str, **train) -> None:
        self.log = workdir / f"{run_name}-{time.monotonic_ns()}.log"
        self._handle = self.log.open("w")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            train_command(workdir, run_name, **train),
            cwd=PROJECT_ROOT,
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        self.known: dict[int, psutil.Process] = {}

    def descendants(self) -> list[psutil.Process]:
        try:
            found = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            found = []
        self.known.update({p.pid: p for p in found})
        return found

    def workers(self) -> list[psutil.Process]:
        """The Ray Train worker processes of this run."""
        found = []
        for proc in self.descendants():
            try:
                if "RayTrainWorker" in " ".join(proc.cmdline()):
                    found.append(proc)
            except psutil.NoSuchProcess:
                continue
        return found

    def wait(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout=timeout_s)
        finally:
            self._handle.close()

    def output(self) -> str:
        return self.log.read_text()

    def kill(self) -> None:
        """SIGKILL the run and every process it started (by PID), like a lost machine."""
        self.descendants()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for proc in self.known.values():
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        self.proc.wait(timeout=30)
        self._handle.close()


def latest_checkpoint_step(run_dir: Path) -> int:
    """The step of the newest checkpoint Ray has committed in a local run folder (0: none)."""
    snapshot = run_dir / "checkpoint_manager_snapshot.json"
    try:
        state = json.loads(snapshot.read_text())
    except (FileNotFoundError, json.JSONDecodeError):  # none yet, or being rewritten
        return 0
    latest = state.get("latest_checkpoint_result") or {}
    return int((latest.get("metrics") or {}).get("step", 0))


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.02):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
