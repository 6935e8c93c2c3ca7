"""Where the servers are (MLflow, Prefect, Ray, S3) and where caches live: read from the
environment once, with the settings, and from the local stack's variables when it is up."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import Field, SecretStr

from components.settings.sections import _Frozen

DEFAULT_DATA_CACHE = Path.home() / ".cache" / "clip-pipeline"  # pinned wheels' data


class S3Access(_Frozen):
    """How to reach S3 (or SeaweedFS, MinIO): the standard AWS variables, read once at load."""

    endpoint: str | None = None  # AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL; None: AWS itself
    region: str = "us-east-1"  # AWS_REGION, else AWS_DEFAULT_REGION
    access_key_id: SecretStr | None = None  # None: boto3's other credential sources
    secret_access_key: SecretStr | None = None

    def credentials(self) -> tuple[str, str] | None:
        if self.access_key_id and self.secret_access_key:
            return self.access_key_id.get_secret_value(), self.secret_access_key.get_secret_value()
        return None


class Services(_Frozen):
    """Where the servers are: the environment at load (the standard variables), filled from the
    local stack's when it is up. Read once; nothing reads the environment afterwards."""

    mlflow_tracking_uri: str | None = None  # None: SQLite under the workdir
    mlflow_registry_uri: str | None = None
    prefect_api_url: str | None = None  # None: a temporary Prefect server per run
    ray_address: str | None = None  # None: a local Ray started for the run
    s3: S3Access = Field(default_factory=S3Access)
    checkpoint_storage: str | None = None  # CLIP_STORAGE_PATH (the stack's S3)
    dvc_remote: str | None = None  # CLIP_DVC_REMOTE: where the versioned corpus is pushed
    ray_temp_dir: str = "/tmp/ray-clip-pipeline"  # CLIP_RAY_TMP
    data_cache: Path = DEFAULT_DATA_CACHE  # CLIP_DATA_CACHE: the pinned wheels' data
    local_stack: Path | None = None  # the stack whose servers these are, when one is up

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Services:
        def first(*names: str) -> str | None:
            return next((env[n] for n in names if env.get(n)), None)

        s3 = S3Access(
            endpoint=first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
            region=first("AWS_REGION", "AWS_DEFAULT_REGION") or "us-east-1",
            access_key_id=first("AWS_ACCESS_KEY_ID"),
            secret_access_key=first("AWS_SECRET_ACCESS_KEY"),
        )
        values = {
            "mlflow_tracking_uri": first("MLFLOW_TRACKING_URI"),
            "mlflow_registry_uri": first("MLFLOW_REGISTRY_URI"),
            "prefect_api_url": first("PREFECT_API_URL"),
            "ray_address": first("RAY_ADDRESS"),
            "checkpoint_storage": first("CLIP_STORAGE_PATH"),
            "dvc_remote": first("CLIP_DVC_REMOTE"),
            "ray_temp_dir": first("CLIP_RAY_TMP"),
            "data_cache": first("CLIP_DATA_CACHE"),
        }
        return cls(s3=s3, **{k: v for k, v in values.items() if v is not None})

    def as_environment(self) -> dict[str, str]:
        """The standard variables these services were read from (secrets included): what an
        entry point exports so that child processes (Ray workers, DVC, boto3 and MLflow's
        clients) reach the same servers."""
        keys = self.s3.credentials()
        values = {
            "MLFLOW_TRACKING_URI": self.mlflow_tracking_uri,
            "MLFLOW_REGISTRY_URI": self.mlflow_registry_uri,
            "PREFECT_API_URL": self.prefect_api_url,
            "RAY_ADDRESS": self.ray_address,
            "AWS_ENDPOINT_URL_S3": self.s3.endpoint,
            "AWS_ACCESS_KEY_ID": keys[0] if keys else None,
            "AWS_SECRET_ACCESS_KEY": keys[1] if keys else None,
            "CLIP_STORAGE_PATH": self.checkpoint_storage,
            "CLIP_DVC_REMOTE": self.dvc_remote,
        }
        return {k: v for k, v in values.items() if v}

    def filled_from(self, stack_env: Mapping[str, str], stack: Path) -> Services:
        """What the environment left unset, taken from the local stack's variables."""
        mine = self.model_dump()
        theirs = Services.from_environment(stack_env).model_dump()
        merged = {k: mine[k] if mine[k] is not None else theirs[k] for k in mine if k != "s3"}
        s3 = {k: v if v is not None else theirs["s3"][k] for k, v in mine["s3"].items()}
        if not stack_env.get("AWS_REGION"):
            s3["region"] = mine["s3"]["region"]
        return Services(**{**merged, "s3": S3Access(**s3), "local_stack": stack})
