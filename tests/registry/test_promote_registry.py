"""The promotion rule applied to a real (SQLite) MLflow registry."""

from __future__ import annotations

import pytest

from components.registry.promote import promote
from components.registry.tracking import configure_mlflow
from components.settings import load_settings


@pytest.fixture
def registry(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = load_settings(
        "tiny", workdir=tmp_path, overrides={"registry": {"min_improvement": 0.05}}
    )
    client = configure_mlflow(settings)
    name = settings.registry.model_name
    client.create_registered_model(name)
    source = tmp_path / "model"
    source.mkdir()

    def add_version(gate_value: float) -> str:
        version = client.create_model_version(name, source.as_uri())
        client.set_model_version_tag(
            name, version.version, "gate_metric", settings.evaluate.gate_metric
        )
        client.set_model_version_tag(name, version.version, "gate_value", str(gate_value))
        return str(version.version)

    return settings, client, add_version


def _champion(client, settings) -> str:
    return str(client.get_model_version_by_alias(settings.registry.model_name, "champion").version)


def test_alias_moves_only_for_a_clearly_better_challenger(registry):
    settings, client, add_version = registry
    first = add_version(0.20)
    assert promote(settings, first).promote
    assert _champion(client, settings) == first

    worse, within_margin, better = add_version(0.10), add_version(0.24), add_version(0.30)
    for version in (worse, within_margin):
        decision = promote(settings, version)
        assert not decision.promote and decision.champion_version == first
        tags = client.get_model_version(settings.registry.model_name, version).tags
        assert tags["promotion_decision"] == "rejected" and "margin" in tags["promotion_reason"]
        assert _champion(client, settings) == first

    assert promote(settings, better).promote
    assert _champion(client, settings) == better
    again = promote(settings, better)
    assert not again.promote and again.reason == "already the champion"
