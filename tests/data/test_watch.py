"""The watch's question, "has a source changed since the corpus was built?", on a user table:
announced once per change, compared with the later of the build's and the watch's records."""

from __future__ import annotations

import json
import os

from components.artifacts import SOURCES_BUILT_FROM
from components.data.sources.fingerprint import source_fingerprint
from components.data.watch import look_for_changes, record_announced, record_built_from
from components.settings import load_settings
from components.stages import BUILD


def _inputs(tmp_path, table):
    settings = load_settings(
        "tiny", workdir=tmp_path / "work", overrides={"data": {"user_sources": [str(table)]}}
    )
    return BUILD.inputs_of(settings)


def test_a_change_is_announced_once_and_a_build_resets_the_baseline(tmp_path):
    table = tmp_path / "pairs.csv"
    table.write_text("image,caption\na.png,a red apple\n")
    cfg = _inputs(tmp_path, table)
    workdir = cfg.paths.workdir
    user = f"user {table}"

    never = look_for_changes(cfg)  # no build recorded: everything is new
    assert user in never.changed and never.since.startswith("nothing")

    record_built_from(workdir, source_fingerprint(cfg.data, cfg.s3))
    quiet = look_for_changes(cfg)
    assert not quiet.any and quiet.since.startswith("the last build (")
    assert json.loads(SOURCES_BUILT_FROM.path(workdir).read_text())["fingerprint"][user]

    with table.open("a") as handle:  # a row appended behind the same name
        handle.write("b.png,a blue whale\n")
    grown = look_for_changes(cfg)
    assert grown.changed == (user,) and grown.digest != quiet.digest

    record_announced(workdir, grown)  # the watch emitted its event
    after = look_for_changes(cfg)
    assert not after.any and after.since.startswith("the last announcement (")

    # the retrain's build of the grown table: its record is the later one now
    record_built_from(workdir, source_fingerprint(cfg.data, cfg.s3))
    assert look_for_changes(cfg).since.startswith("the last build (")

    os.utime(table, ns=(1, 1))  # touched, same bytes: size, mtime and hash make the line
    assert look_for_changes(cfg).changed == (user,)


def test_a_source_added_or_removed_is_a_change(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    for table in (first, second):
        table.write_text("image,caption\na.png,a red apple\n")
    cfg = _inputs(tmp_path, first)
    record_built_from(cfg.paths.workdir, source_fingerprint(cfg.data, cfg.s3))
    both = load_settings(
        "tiny",
        workdir=cfg.paths.workdir,
        overrides={"data": {"user_sources": [str(first), str(second)]}},
    )
    assert look_for_changes(BUILD.inputs_of(both)).changed == (f"user {second}",)
    record_built_from(cfg.paths.workdir, source_fingerprint(BUILD.inputs_of(both).data, cfg.s3))
    assert look_for_changes(cfg).changed == (f"user {second}",)  # removed again
