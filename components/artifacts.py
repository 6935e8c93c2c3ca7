"""The artifact layout: what one stage leaves for the next, under the workdir, and which command
makes each. No other module writes an artifact's path; the stage contract (components/stages.py)
names them as inputs and outputs, and dvc.yaml must agree with it.

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
    # how dvc.yaml lists it as an output: outs (cached), uncached (cache: false), metrics, plots
    dvc: str = "outs"

    def path(self, workdir: Path) -> Path:
        return Path(workdir) / self.relative

    def missing(self, workdir: Path) -> list[str]:
        """The files of this artifact that are not there (empty: it is complete)."""
        path = self.path(workdir)
        if self.files:
            return [name for name in self.files if not (path / name).is_file()]
        return [] if path.is_file() else [path.name]


MANIFEST_FILE = "manifest.parquet"  # the corpus's index: one row per sample
CARD_FILE = "card.json"  # how the corpus was made; with data.output, where its shards are

CORPUS = Artifact(
    "corpus",
    "data",
    "clip-pipeline data build` (or `clip-pipeline data pull",
    (MANIFEST_FILE,),  # written last, by the swap of a complete build
)
VALIDATION = Artifact(
    "validation report",
    "artifacts/validation",
    "clip-pipeline validate",
    ("validation.json", "quarantine.csv"),
)
MODEL = Artifact(
    "trained model",
    "artifacts/model",
    "clip-pipeline train",
    ("model.safetensors", "config.json", "tokenizer.json"),
)
TRAINING_RUN = Artifact(
    "training run record", "artifacts/train/run.json", "clip-pipeline train", dvc="uncached"
)
TRAINING_HISTORY = Artifact(
    "training history", "artifacts/train/history.csv", "clip-pipeline train", dvc="plots"
)
METRICS = Artifact("evaluation", "artifacts/metrics.json", "clip-pipeline evaluate", dvc="metrics")
EVALUATION_PLOTS = Artifact(
    "evaluation plots", "artifacts/eval_plots", "clip-pipeline evaluate", dvc="plots"
)
ONNX = Artifact(
    "ONNX export",
    "artifacts/onnx",
    "clip-pipeline export",
    ("image_encoder.onnx", "text_encoder.onnx", "parity.json"),
)
REGISTRATION = Artifact(
    "registration", "artifacts/registration.json", "clip-pipeline register", dvc="uncached"
)
# what the sources held (their fingerprint) when the corpus was built, and when the watch-data
# flow last announced a change: the watch compares the sources with the later of the two
SOURCES_BUILT_FROM = Artifact(
    "record of the sources the corpus was built from",
    "artifacts/data/sources.json",
    "clip-pipeline data build",
    dvc="uncached",
)
SOURCES_ANNOUNCED = Artifact(
    "record of the last announced data change",
    "artifacts/data/announced.json",
    "the watch-data flow",
    dvc="uncached",
)


def require(workdir: Path, *artifacts: Artifact) -> None:
    """Raise MissingArtifact for the first of `artifacts` that is not complete."""
    for artifact in artifacts:
        missing = artifact.missing(workdir)
        if missing:
            raise MissingArtifact(
                f"no {artifact.what} at {artifact.path(workdir)} "
                f"({', '.join(missing)} missing): run "
                f"`{artifact.made_by}` first"
            )
