"""The checks a version must pass before it may become champion, recorded on the version.

- onnx_parity: the exported towers match torch within export.parity_atol (artifacts/onnx);
- data_validation: the corpus it was trained on passed the validation gate;
- above_chance: the gate metric beats chance on its task (a collapsed model does not).
"""

from __future__ import annotations

import json
from pathlib import Path

CHECKS_PASSED = "checks_passed"


def chance_key(gate_metric: str) -> str | None:
    """zeroshot_heldout_top1 -> zeroshot_heldout_chance_top1 (None for other metrics)."""
    for kind in ("top1", "top5"):
        if gate_metric.endswith(f"_{kind}"):
            return f"{gate_metric[: -len(kind)]}chance_{kind}"
    return None


def release_checks(workdir: Path, metrics: dict[str, float], gate_metric: str) -> dict[str, bool]:
    from components.artifacts import ONNX, VALIDATION
    from components.export.onnx_export import PARITY_FILE
    from components.validation.report import REPORT_FILE

    parity = ONNX.path(workdir) / PARITY_FILE
    validation = VALIDATION.path(workdir) / REPORT_FILE
    chance = chance_key(gate_metric)
    return {
        "onnx_parity": parity.is_file() and bool(json.loads(parity.read_text())["passed"]),
        "data_validation": validation.is_file()
        and bool(json.loads(validation.read_text())["passed"]),
        "above_chance": gate_metric in metrics
        and (chance is None or chance not in metrics or metrics[gate_metric] > metrics[chance]),
    }


def checks_tags(checks: dict[str, bool]) -> dict[str, str]:
    tags = {f"check.{name}": str(ok).lower() for name, ok in checks.items()}
    return tags | {CHECKS_PASSED: str(all(checks.values())).lower()}


def failed_checks(version_tags: dict[str, str]) -> list[str]:
    """The checks a registered version failed; ['no checks recorded'] for a version without."""
    if CHECKS_PASSED not in version_tags:
        return ["no checks recorded"]
    return [
        k.removeprefix("check.")
        for k, v in version_tags.items()
        if k.startswith("check.") and v != "true"
    ]
