"""The validate stage: the gate between the corpus and any compute."""

from __future__ import annotations

from components.artifacts import VALIDATION
from components.settings import Settings


def validate(settings: Settings):  # -> components.validation.gate.ValidationReport
    from components.validation.gate import validate_corpus

    return validate_corpus(
        settings.paths.data, settings.validate_, VALIDATION.path(settings.paths.workdir)
    )
