"""The stage contract: every stage declared once.

A stage is its name, the `clip-pipeline` command that runs it alone (and so `dvc repro`), the
params.yaml sections (or keys) it reads, its input and output artifacts from the one layout
(components/artifacts.py), the component packages whose code it runs, its function, and what
that function receives: only its own sections, the paths and, where it logs, MLflow's tracking
(components/settings/stage_inputs.py). The CLI commands and the Prefect tasks call `run`;
tests/house/test_stage_contract.py checks that dvc.yaml lists exactly these deps, params and
outs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from components.artifacts import (
    CORPUS,
    EVALUATION_PLOTS,
    METRICS,
    MODEL,
    ONNX,
    REGISTRATION,
    TRAINING_HISTORY,
    TRAINING_RUN,
    VALIDATION,
    Artifact,
)
from components.model.heldout_metrics import probed_split
from components.settings import (
    BuildInputs,
    ConfigError,
    EvaluateInputs,
    ExportInputs,
    ProbeInputs,
    RegistryInputs,
    Settings,
    TrainInputs,
    ValidateInputs,
)


@dataclass(frozen=True)
class Stage:
    name: str
    command: str  # the `clip-pipeline` subcommand that runs it alone
    params: tuple[str, ...]  # the params.yaml sections (or section.key) it reads
    inputs: tuple[Artifact, ...]
    outputs: tuple[Artifact, ...]
    code: tuple[str, ...]  # components/<package> folders whose code decides its outputs
    function: str  # "module:function", imported only when the stage runs
    inputs_of: Callable[[Settings], Any]  # the settings -> what the function receives
    in_dvc: bool = True  # a stage of dvc.yaml (the corpus itself is data.dvc's, not a stage)

    def run(self, settings: Settings, *args: Any, **kwargs: Any) -> Any:
        module, _, name = self.function.partition(":")
        return getattr(import_module(module), name)(self.inputs_of(settings), *args, **kwargs)

    def outputs_present(self, workdir: Path) -> bool:
        return not any(artifact.missing(workdir) for artifact in self.outputs)

    def cache_key(self, settings: Settings, *inputs: object) -> str:
        """Same parameters read, same code, same workdir, same `inputs` (e.g. the corpus
        checksum): the same outputs (the stages are deterministic)."""
        params = {path: _param(settings, path) for path in self.params}
        text = json.dumps(
            [params, [_code_digest(p) for p in self.code], str(settings.paths.workdir), inputs],
            sort_keys=True,
            default=str,
        )
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:24]}"


COMPONENTS = Path(__file__).resolve().parent


def _param(settings: Settings, path: str) -> Any:
    value: Any = settings.sections
    for part in path.split("."):
        value = value[part]
    return value


def _code_digest(package: str) -> str:
    """The source of one components package: a code change invalidates its cached stage."""
    digest = hashlib.sha256()
    for path in sorted((COMPONENTS / package).rglob("*.py")):
        digest.update(path.relative_to(COMPONENTS).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


BUILD = Stage(
    "build",
    "clip-pipeline data build",
    ("data", "validate"),  # user samples are checked against the validate limits at the source
    (),
    (CORPUS,),
    ("data", "checks"),
    "components.data.stage:build",
    lambda s: BuildInputs(
        data=s.data,
        limits=s.validate_,
        paths=s.paths,
        s3=s.services.s3,
        ray_address=s.services.ray_address,
        ray_temp_dir=s.services.ray_temp_dir,
    ),  # fmt: skip
    in_dvc=False,
)
VALIDATE = Stage(
    "validate",
    "clip-pipeline validate",
    ("validate",),
    (CORPUS,),
    (VALIDATION,),
    ("validation", "checks"),
    "components.validation.stage:validate",
    lambda s: ValidateInputs(
        gate=s.validate_,
        paths=s.paths,
        s3=s.services.s3,
        ray_address=s.services.ray_address,
        ray_temp_dir=s.services.ray_temp_dir,
    ),
)
TRAIN = Stage(
    "train",
    "clip-pipeline train",
    # the registry names what model.init_from: champion resolves to
    # and evaluate's probe keys: zero-shot curves during training (they never change weights)
    (
        "model",
        "train",
        "registry.experiment",
        "registry.model_name",
        "registry.champion_alias",
        "evaluate.every_steps",
        "evaluate.probe_images",
        "evaluate.templates",
        "evaluate.gate_metric",  # its held-out split is the one probed
    ),
    (CORPUS, VALIDATION),
    (MODEL, TRAINING_RUN, TRAINING_HISTORY),
    ("data", "model", "training"),  # data: the shard reader the workers stream through
    "components.training.stage:train",
    lambda s: TrainInputs(
        model=s.model,
        train=s.train,
        paths=s.paths,
        services=s.services,
        tracking=s.tracking,
        registered_model=s.registry.model_name,
        champion_alias=s.registry.champion_alias,
        probe=ProbeInputs(
            every_steps=s.evaluate.every_steps,
            images=s.evaluate.probe_images,
            templates=s.evaluate.templates,
            split=probed_split(s.evaluate.gate_metric),
        ),
    ),
)
EVALUATE = Stage(
    "evaluate",
    "clip-pipeline evaluate",
    ("evaluate", "train.seed", "registry.experiment"),
    (CORPUS, VALIDATION, MODEL, TRAINING_RUN),
    (METRICS, EVALUATION_PLOTS),
    ("evaluation", "model"),  # model: the zero-shot code and the prompt templates
    "components.evaluation.stage:evaluate",
    lambda s: EvaluateInputs(
        evaluate=s.evaluate, seed=s.train.seed, paths=s.paths, tracking=s.tracking
    ),
)
EXPORT = Stage(
    "export",
    "clip-pipeline export",
    ("export", "evaluate.templates"),
    (CORPUS, MODEL, TRAINING_RUN),
    (ONNX,),
    ("export", "model"),
    "components.export.stage:export",
    lambda s: ExportInputs(
        export=s.export, templates=s.evaluate.templates, paths=s.paths, tracking=s.tracking
    ),
)
REGISTER = Stage(
    "register",
    "clip-pipeline register",
    ("registry", "evaluate.gate_metric"),
    (ONNX, METRICS, TRAINING_RUN, VALIDATION, MODEL),
    (REGISTRATION,),
    ("registry",),
    "components.registry.register:register",
    lambda s: registry_inputs(s),
)

STAGES = (BUILD, VALIDATE, TRAIN, EVALUATE, EXPORT, REGISTER)


def registry_inputs(settings: Settings) -> RegistryInputs:
    """What register and promote receive (promote runs alone too: `clip-pipeline promote`)."""
    return RegistryInputs(
        registry=settings.registry,
        gate_metric=settings.evaluate.gate_metric,
        paths=settings.paths,
        tracking=settings.tracking,
    )


def check_settings(settings: Settings) -> None:
    """What one section cannot know of another, checked at load before any compute: the model
    exists and takes this tokenizer, its input fits the stored corpus, the templates exist."""
    from components.model.config import load_config
    from components.model.templates import resolve_templates

    cfg = load_config(settings.model.name)
    side = cfg.vision_cfg.image_size
    if side > settings.data.image_size:
        raise ConfigError(
            f"model {settings.model.name} takes {side} px images but data.image_size stores "
            f"{settings.data.image_size} px: rebuild the corpus with --set "
            f"data.image_size={side} (or more), or choose a model of at most "
            f"{settings.data.image_size} px"
        )
    if (cfg.text_cfg.tower == "minilm") != (settings.model.tokenizer == "wordpiece"):
        raise ConfigError(
            f"model {settings.model.name} ({cfg.text_cfg.tower} text tower) and tokenizer "
            f"{settings.model.tokenizer!r} do not match: a minilm tower takes 'wordpiece', "
            "the others do not"
        )
    _check_gate_split(settings)
    for key, templates in (
        ("evaluate.templates", settings.evaluate.templates),
        ("train.caption_templates", settings.train.caption_templates),
    ):
        try:
            if templates is not None:
                resolve_templates(templates)
        except ValueError as err:
            raise ConfigError(f"{key}: {err}") from err


def _check_gate_split(settings: Settings) -> None:
    """A gate on an extra held-out style needs that style in the corpus (else the evaluation
    has no such metric and every registration would fail at the end)."""
    from components.data.corpus.splits import HELDOUT, PACKAGE_STYLES, heldout_split
    from components.data.sources.npm_packages import parse_spec
    from components.model.heldout_metrics import per_image_metric

    scored = per_image_metric(settings.evaluate.gate_metric)
    if scored is None or scored[0] == HELDOUT:
        return
    held_out = {
        heldout_split(PACKAGE_STYLES.get(parse_spec(spec)[0], ""))
        for spec in settings.data.extra_heldout_packages
    }
    if scored[0] not in held_out:
        raise ConfigError(
            f"evaluate.gate_metric {settings.evaluate.gate_metric} scores the {scored[0]} split, "
            f"but data.extra_heldout_packages ({settings.data.extra_heldout_packages or 'empty'}) "
            "holds no such style: add its package, or gate on zeroshot_heldout_top1 (OpenMoji)"
        )
