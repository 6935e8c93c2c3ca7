"""Champion/challenger promotion: the alias moves only when the challenger is better.

The decision and its reason are tagged on the challenger version; the alias moves last.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.errors import UserError
from components.settings import RegistryInputs


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    challenger_version: str
    champion_version: str | None
    challenger_value: float
    champion_value: float | None


def decide(
    challenger: float, champion: float | None, min_improvement: float, checks_passed: bool = True
) -> tuple[bool, str]:
    """The promotion rule, free of any registry: (promote?, why)."""
    if not checks_passed:
        return False, "the challenger failed a check"
    if champion is None:
        return True, "no champion yet"
    versus = f"challenger {challenger:.4f} vs champion {champion:.4f}, margin {min_improvement}"
    if challenger > champion + min_improvement:
        return True, f"better: {versus}"
    return False, f"not better by more than the margin: {versus}"


class RegistryError(UserError, LookupError):
    """The registry has no such model or version: the message says what it does have."""


def promote(cfg: RegistryInputs, version: str) -> Decision:
    """Consider `version` for the champion alias, under the promotion lock."""
    from components.registry.lock import promotion_lock

    if not str(version).isdigit():  # MLflow would answer with a page of traceback
        raise RegistryError(
            f"{version!r} is not a model version: versions are whole numbers "
            "(e.g. clip-pipeline promote 3)"
        )
    with promotion_lock(cfg.paths.mlruns, cfg.registry.model_name):
        return _promote_locked(cfg, str(int(version)))


def _challenger(client, name: str, version: str):  # -> mlflow ModelVersion
    """The version to consider, or a RegistryError listing the versions there are."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, version)
    except MlflowException as err:
        if err.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
    if not versions:
        raise RegistryError(
            f"no model named {name!r} is registered yet: run `clip-pipeline register` first"
        )
    have = ", ".join(map(str, versions))
    raise RegistryError(f"{name} has no version {version} (its versions: {have})")


def _promote_locked(cfg: RegistryInputs, version: str) -> Decision:
    from mlflow.exceptions import MlflowException

    from components.registry.checks import failed_checks
    from components.tracking.runs import configure_mlflow

    client = configure_mlflow(cfg.tracking)
    name, alias = cfg.registry.model_name, cfg.registry.champion_alias
    challenger = _challenger(client, name, version)
    gate = cfg.gate_metric
    if challenger.tags.get("gate_metric") != gate:
        raise RegistryError(f"version {version} of {name} was not gated on {gate!r}")
    challenger_value = float(challenger.tags["gate_value"])
    try:
        champion = client.get_model_version_by_alias(name, alias)
        champion_version = str(champion.version)  # MLflow 3 returns versions as int
        champion_value = float(champion.tags.get("gate_value", "nan"))
    except MlflowException:
        champion_version, champion_value = None, None

    failed = failed_checks(challenger.tags)
    if champion_version == str(version):
        ok, reason = False, "already the champion"
    else:
        ok, reason = decide(
            challenger_value, champion_value, cfg.registry.min_improvement, not failed
        )
        if failed:
            reason = f"{reason}: {', '.join(failed)}"
    client.set_model_version_tag(
        name, version, "promotion_decision", "promoted" if ok else "rejected"
    )
    client.set_model_version_tag(name, version, "promotion_reason", reason)
    if ok:
        client.set_registered_model_alias(name, alias, version)  # last: the alias moves only now
    return Decision(ok, reason, str(version), champion_version, challenger_value, champion_value)
