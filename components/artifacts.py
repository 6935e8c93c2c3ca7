"""What one stage leaves for the next, under the workdir, and which command makes each.

A stage checks its inputs here before any work, so running one out of order is one line that
names the command to run first, never a bare path or an errno.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from components.errors import UserError


class MissingArtifact(UserError, FileNotFoundError):
    """A stage's input is not there yet: the message names the command that makes it."""


@dataclass(frozen=True)
class Artifact:
    what: str  # for people: "a trained model"
    relative: str  # under the workdir
    made_by: str  # the command that writes it
    files: tuple[str, ...] = ()  # a folder artifact: the files it must hold

    def path(self, workdir: Path) -> Path:
        return Path(workdir) / self.relative


CORPUS = Artifact(
    "corpus",
    "data",
    "clip-pipeline data build` (or `clip-pipeline data pull",
    ("manifest.parquet",),
)
MODEL = Artifact(
    "trained model",
    "artifacts/model",
    "clip-pipeline train",
    ("model.safetensors", "config.json", "tokenizer.json"),
)
TRAINING_RUN = Artifact("training run record", "artifacts/train/run.json", "clip-pipeline train")
METRICS = Artifact("evaluation", "artifacts/metrics.json", "clip-pipeline evaluate")
ONNX = Artifact(
    "ONNX export",
    "artifacts/onnx",
    "clip-pipeline export",
    ("image_encoder.onnx", "text_encoder.onnx", "parity.json"),
)


def require(workdir: Path, *artifacts: Artifact) -> None:
    """Raise MissingArtifact for the first of `artifacts` that is not complete."""
    for artifact in artifacts:
        path = artifact.path(workdir)
        if artifact.files:
            missing = [name for name in artifact.files if not (path / name).is_file()]
        else:
            missing = [] if path.is_file() else [path.name]
        if missing:
            raise MissingArtifact(
                f"no {artifact.what} at {path} ({', '.join(missing)} missing): run "
                f"`{artifact.made_by}` first"
            )
