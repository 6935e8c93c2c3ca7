"""The validate stage: the gate between the corpus and any compute."""

from __future__ import annotations

from components.artifacts import VALIDATION
from components.settings import ValidateInputs


def validate(cfg: ValidateInputs):  # -> components.validation.gate.ValidationReport
    from components.validation.gate import RayPlace, validate_corpus

    ray = RayPlace(cfg.ray_address, cfg.ray_temp_dir)
    report_dir = VALIDATION.path(cfg.paths.workdir)
    return validate_corpus(cfg.paths.data, cfg.gate, report_dir, ray, cfg.s3)
