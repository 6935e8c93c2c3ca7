"""Would a retrain remake the champion? Only when its data version, code and parameters are
all the ones the champion was made from: then the retrain ends early and registers nothing."""

from __future__ import annotations

from components.settings import RegistryInputs

# what made a model: the corpus version, the code (commit and any uncommitted change to it)
# and every parameter
LINEAGE_KEYS = ("data_dvc_md5", "git_commit", "git_diff_sha256", "params_hash")


def unchanged_champion(cfg: RegistryInputs, data_version: str) -> str | None:
    """The champion's version when this run's lineage equals the one it was registered with;
    None when there is no champion or anything differs (or could not be known)."""
    from mlflow.exceptions import MlflowException

    from components.tracking.lineage import lineage_tags
    from components.tracking.runs import configure_mlflow

    now = {**lineage_tags(cfg.tracking), "data_dvc_md5": data_version}
    if now["git_commit"] == "unknown" or data_version == "untracked":
        return None
    client = configure_mlflow(cfg.tracking)
    try:
        champion = client.get_model_version_by_alias(
            cfg.registry.model_name, cfg.registry.champion_alias
        )
    except MlflowException:  # no such model, or no champion yet
        return None
    if all(champion.tags.get(key) == now[key] for key in LINEAGE_KEYS):
        return str(champion.version)
    return None
