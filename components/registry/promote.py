"""Champion/challenger promotion: the alias moves only when the challenger is better.

When the gate metric is a mean of per-image hits (zero-shot top-k on the held-out style), both
versions are scored again on the challenger's evaluation data, image by image, and the
challenger must win a paired bootstrap: the lower end of the 95% interval of the difference
above registry.min_improvement. Otherwise (another metric, or nothing to score them on) the
gate values tagged at registration are compared, and the reason says why. The decision, its
reason, both figures, the interval and both data versions are tagged on the challenger
version; the alias moves last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components.errors import UserError
from components.settings import RegistryInputs

if TYPE_CHECKING:
    from components.registry.paired_bootstrap import PairedDifference


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    challenger_version: str
    champion_version: str | None
    challenger_value: float
    champion_value: float | None
    interval: tuple[float, float] | None = None  # of challenger - champion, paired, 95%
    n_images: int | None = None  # the images both were scored on (paired only)


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


def decide_paired(
    paired: PairedDifference, min_improvement: float, checks_passed: bool = True
) -> tuple[bool, str]:
    """The paired rule: promote only when the interval's lower end clears the margin."""
    if not checks_passed:
        return False, "the challenger failed a check"
    versus = (
        f"challenger {paired.challenger:.4f} vs champion {paired.champion:.4f} on the same "
        f"{paired.n_images} images, difference {paired.difference:+.4f}, 95% interval "
        f"{paired.interval()}, margin {min_improvement}"
    )
    if paired.low > min_improvement:
        return True, f"better beyond noise: {versus}"
    return False, f"not better beyond noise and the margin: {versus}"


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
    paired: PairedDifference | None = None
    if champion_version == str(version):
        ok, reason = False, "already the champion"
    elif champion_version is not None and not failed:
        paired, why_not = _paired(cfg, challenger, champion)
        if paired is not None:
            ok, reason = decide_paired(paired, cfg.registry.min_improvement)
            challenger_value, champion_value = paired.challenger, paired.champion
        else:
            ok, reason = decide(challenger_value, champion_value, cfg.registry.min_improvement)
            reason = f"{reason} (gate values as registered: {why_not})"
    else:
        ok, reason = decide(
            challenger_value, champion_value, cfg.registry.min_improvement, not failed
        )
        if failed:
            reason = f"{reason}: {', '.join(failed)}"
    tags = {"promotion_decision": "promoted" if ok else "rejected", "promotion_reason": reason}
    if paired is not None:
        tags |= {
            "promotion_interval": paired.interval(),
            "promotion_difference": f"{paired.difference:+.6f}",
            "promotion_n_images": str(paired.n_images),
            "promotion_challenger_value": f"{paired.challenger:.6f}",
            "promotion_champion_value": f"{paired.champion:.6f}",  # on the challenger's data
            "promotion_champion_version": str(champion_version),
            "promotion_challenger_data": challenger.tags.get("data_dvc_md5", "unknown"),
            "promotion_champion_data": champion.tags.get("data_dvc_md5", "unknown"),
        }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    if paired is not None:  # the card says it too, where the registry's page shows it
        from components.registry.model_card import with_promotion

        card = client.get_model_version(name, version).description
        text = with_promotion(card, tags["promotion_decision"], paired, str(champion_version))
        client.update_model_version(name, version, description=text)
    if ok:
        client.set_registered_model_alias(name, alias, version)  # last: the alias moves only now
    interval = (paired.low, paired.high) if paired is not None else None
    return Decision(
        ok, reason, str(version), champion_version, challenger_value, champion_value, interval,
        paired.n_images if paired is not None else None,
    )  # fmt: skip


def _paired(cfg: RegistryInputs, challenger: Any, champion: Any) -> tuple[Any, str]:
    """(the paired difference on the challenger's evaluation data, '') or (None, why not)."""
    from mlflow.exceptions import MlflowException

    from components.artifacts import VALIDATION
    from components.data.errors import DataSourceError
    from components.model.heldout_metrics import per_image_metric
    from components.registry.paired_bootstrap import paired_difference
    from components.registry.rescore import evaluation_images, version_hits
    from components.tracking.lineage import manifest_sha256

    scored = per_image_metric(cfg.gate_metric)
    if scored is None:
        return None, f"{cfg.gate_metric} is not a mean of per-image hits"
    split, k = scored
    data_dir = cfg.paths.data
    if challenger.tags.get("data_manifest_sha256") != manifest_sha256(data_dir):
        return None, f"the corpus in {data_dir} is not the one the challenger was evaluated on"
    name = cfg.registry.model_name
    try:
        data = evaluation_images(
            data_dir, cfg.tracking.services.s3, VALIDATION.path(cfg.paths.workdir), split
        )
        if not data.images:
            return None, f"the corpus has no {split} images"
        hits = [
            version_hits(f"models:/{name}/{v.version}", data, k) for v in (challenger, champion)
        ]
    except (MlflowException, DataSourceError, OSError, KeyError, ValueError) as err:
        detail = " ".join(str(err).split())[:300]
        return None, f"the versions could not be scored again ({type(err).__name__}: {detail})"
    return paired_difference(hits[0], hits[1]), ""
