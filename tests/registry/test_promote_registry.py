"""The promotion rule applied to a real (SQLite) MLflow registry."""

from __future__ import annotations

import multiprocessing

import pytest

from components.registry.checks import checks_tags
from components.registry.promote import Decision
from components.registry.promote import promote as promote_version
from components.settings import Settings, load_settings
from components.stages import registry_inputs
from components.tracking.runs import configure_mlflow


def promote(settings: Settings, version: str) -> Decision:
    return promote_version(registry_inputs(settings), version)


@pytest.fixture
def registry(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = load_settings(
        "tiny", workdir=tmp_path, overrides={"registry": {"min_improvement": 0.05}}
    )
    client = configure_mlflow(settings.tracking)
    name = settings.registry.model_name
    client.create_registered_model(name)
    source = tmp_path / "model"
    source.mkdir()

    def add_version(gate_value: float, parity: bool = True) -> str:
        checks = {"onnx_parity": parity, "data_validation": True, "above_chance": True}
        tags = {"gate_metric": settings.evaluate.gate_metric, "gate_value": str(gate_value)}
        version = client.create_model_version(
            name, source.as_uri(), tags=tags | checks_tags(checks)
        )
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


def test_a_version_that_failed_a_check_never_becomes_champion(registry):
    settings, client, add_version = registry
    first = add_version(0.20)
    assert promote(settings, first).promote
    broken = add_version(0.90, parity=False)  # far better on the metric, but its export broke
    decision = promote(settings, broken)
    assert not decision.promote and "onnx_parity" in decision.reason
    assert _champion(client, settings) == first
    # and a version registered by hand, with no checks at all
    bare = client.create_model_version(
        settings.registry.model_name,
        (settings.paths.workdir / "model").as_uri(),
        tags={"gate_metric": settings.evaluate.gate_metric, "gate_value": "0.95"},
    )
    decision = promote(settings, str(bare.version))
    assert not decision.promote and "no checks recorded" in decision.reason
    assert _champion(client, settings) == first


def _promote_in_process(workdir: str, version: str, start) -> bool:
    settings = load_settings(
        "tiny", workdir=workdir, overrides={"registry": {"min_improvement": 0.05}}
    )
    start.wait()  # all promoters go at once
    return promote(settings, version).promote


def test_concurrent_promotions_leave_the_best_as_the_one_champion(registry):
    settings, client, add_version = registry
    first = add_version(0.20)
    assert promote(settings, first).promote
    values = {add_version(v): v for v in (0.30, 0.60, 0.45, 0.50)}
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(len(values)) as pool:
        start = manager.Event()
        pending = [
            pool.apply_async(_promote_in_process, (str(settings.paths.workdir), v, start))
            for v in values
        ]
        start.set()
        outcomes = dict(zip(values, [p.get(timeout=120) for p in pending], strict=True))
    best = max(values, key=values.get)
    assert _champion(client, settings) == best
    assert outcomes[best]
    # every promoted version beat the champion it replaced: the decisions form one chain
    name = settings.registry.model_name
    for version, promoted in outcomes.items():
        tags = client.get_model_version(name, version).tags
        assert tags["promotion_decision"] == ("promoted" if promoted else "rejected")
