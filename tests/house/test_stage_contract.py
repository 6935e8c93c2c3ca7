"""dvc.yaml and the stage contract (components/stages.py) say the same thing: every stage's
deps are its input artifacts and its code, its params are its sections, its outs (and metrics,
plots) are its output artifacts, and its command is the one the CLI runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.settings import PROJECT_ROOT, load_settings
from components.stages import STAGES, Stage

DVC = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]
DVC_STAGES = [stage for stage in STAGES if stage.in_dvc]


def _paths(entries: list) -> list[str]:
    """dvc.yaml lists a path either bare or as a one-key mapping of its options."""
    return [entry if isinstance(entry, str) else next(iter(entry)) for entry in entries or []]


def test_dvc_yaml_has_exactly_the_declared_stages() -> None:
    assert set(DVC) == {stage.name for stage in DVC_STAGES}


@pytest.mark.parametrize("stage", DVC_STAGES, ids=[s.name for s in DVC_STAGES])
def test_a_dvc_stage_lists_what_its_declaration_says(stage: Stage) -> None:
    entry = DVC[stage.name]
    assert entry["cmd"] == stage.command
    declared_deps = [a.relative for a in stage.inputs] + [f"components/{c}" for c in stage.code]
    assert sorted(_paths(entry["deps"])) == sorted(declared_deps)
    assert entry["params"] == ["profile", "profiles", *stage.params]
    for kind in ("outs", "metrics", "plots"):
        listed = {
            (path, "uncached" if kind == "outs" and not _cached(entry[kind], path) else kind)
            for path in _paths(entry.get(kind))
        }
        declared = {(a.relative, a.dvc) for a in stage.outputs if _kind(a.dvc) == kind}
        assert listed == declared, kind


def _kind(dvc: str) -> str:
    return "outs" if dvc in ("outs", "uncached") else dvc


def _cached(entries: list, path: str) -> bool:
    for entry in entries:
        if isinstance(entry, dict) and path in entry:
            return (entry[path] or {}).get("cache", True)
    return True


def test_every_artifact_a_stage_reads_is_made_by_an_earlier_stage() -> None:
    made: set[str] = set()
    for stage in STAGES:
        assert {a.relative for a in stage.inputs} <= made, stage.name
        made |= {a.relative for a in stage.outputs}


@pytest.mark.parametrize("stage", STAGES, ids=[s.name for s in STAGES])
def test_declared_params_and_code_exist(stage: Stage) -> None:
    sections = load_settings("tiny").sections
    for path in stage.params:
        value = sections
        for part in path.split("."):
            assert part in value, f"{stage.name} reads {path}, which params.yaml does not have"
            value = value[part]
    for package in stage.code:
        assert (PROJECT_ROOT / "components" / package).is_dir()
    module, _, function = stage.function.partition(":")
    assert (PROJECT_ROOT / Path(*module.split("."))).with_suffix(".py").is_file()


def test_a_code_change_invalidates_only_the_stages_that_run_that_code(tmp_path) -> None:
    settings = load_settings("tiny", workdir=tmp_path)
    build, validate = STAGES[0], STAGES[1]
    assert build.cache_key(settings) == build.cache_key(settings)
    assert validate.cache_key(settings, "corpus-a") != validate.cache_key(settings, "corpus-b")
    more = load_settings("tiny", workdir=tmp_path, overrides={"validate": {"min_rows": 7}})
    assert build.cache_key(more) != build.cache_key(settings)  # build reads validate's limits
    other = load_settings("tiny", workdir=tmp_path, overrides={"train": {"epochs": 2}})
    assert build.cache_key(other) == build.cache_key(settings)
