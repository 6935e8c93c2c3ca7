"""Every user mistake at the command line is one line on stderr and exit code 2: no traceback,
no box, no library's log lines. Each case runs the installed `clip-pipeline` in a fresh workdir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(600)

BIN = Path(sys.executable).parent
BAD_YAML = "profile: default\ndata:\n  image_size: [64\n"

# (name, arguments after the global ones, what the one line must say)
MISTAKES = [
    ("promote a version that does not exist", ["promote", "999"],
     "no model named 'clip-zeroshot' is registered yet: run `clip-pipeline register` first"),
    ("promote a version that is not a number", ["promote", "abc"],
     "'abc' is not a model version"),
    ("a YAML error in --set", ["--set", "train.epochs=[1", "train"],
     "--set 'train.epochs=[1' (column 3 of the value): not valid YAML: expected ',' or ']'"),
    ("--set without a value", ["--set", "train.epochs", "train"],
     "expected section.key=value"),
    ("an unknown profile", ["--profile", "nope", "train"],
     "unknown profile 'nope'"),
    ("an unknown parameter", ["--set", "train.epochz=3", "train"],
     "train.epochz: Extra inputs are not permitted"),
    ("a parameter of the wrong type", ["--set", "train.epochs=many", "train"],
     "train.epochs: Input should be a valid integer"),
    ("a batch that does not split over the workers", ["--set", "train.num_workers=2",
     "--set", "train.global_batch_size=3", "train"],
     "global_batch_size 3 does not split over 2 workers"),
    ("the training resolution set apart from the model", ["--set", "train.image_size=64",
     "train"], "train.image_size is gone: the model config's vision_cfg.image_size"),
    ("a model larger than the stored corpus", ["--set", "model.name=ViT-B-32", "train"],
     "model ViT-B-32 takes 224 px images but data.image_size stores 64 px"),
    ("a model that takes another tokenizer", ["--set", "model.name=clip-small-minilm", "train"],
     "model clip-small-minilm (minilm text tower) and tokenizer 'word' do not match"),
    ("train before any corpus", ["train"],
     "no corpus at {workdir}/data (manifest.parquet missing): run `clip-pipeline data build`"),
    ("validate before any corpus", ["validate"],
     "the data directory {workdir}/data does not exist. Build the corpus first"),
    ("register before export", ["register"],
     "no ONNX export at {workdir}/artifacts/onnx"),
    ("pull with nothing versioned", ["data", "pull"],
     "no data.dvc in {workdir}"),
    ("reproduce a model that is not registered", ["reproduce", "nomodel", "1"],
     "no version 1 of 'nomodel'"),
    ("a missing argument", ["promote"], "Missing argument 'version'"),
    ("an unknown command", ["trian"], "No such command 'trian'. Did you mean 'train'?"),
    ("an unknown option", ["train", "--epochs", "3"], "No such option: --epochs"),
]  # fmt: skip
WITH_CORPUS = [  # a corpus folder is there, the model is not
    ("evaluate before train", ["evaluate"],
     "no trained model at {workdir}/artifacts/model (model.safetensors, config.json, "
     "tokenizer.json missing): run `clip-pipeline train` first"),
    ("export before train", ["export"], "no training run record at {workdir}/artifacts/train"),
]  # fmt: skip


def _run(workdir: Path, args: list[str], **env: str) -> subprocess.CompletedProcess:
    command = [str(BIN / "clip-pipeline"), "--workdir", str(workdir), *args]
    environment = {**os.environ, **env}
    return subprocess.run(
        command, cwd=workdir, env=environment, capture_output=True, text=True, timeout=180
    )


def _assert_one_line(proc: subprocess.CompletedProcess, expected: str) -> None:
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]


@pytest.mark.parametrize(("name", "args", "expected"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_mistake_is_one_line(tmp_path, name, args, expected) -> None:
    _assert_one_line(_run(tmp_path, args), expected.format(workdir=tmp_path))


@pytest.mark.parametrize(("name", "args", "expected"), WITH_CORPUS, ids=[m[0] for m in WITH_CORPUS])
def test_a_stage_run_too_early_names_the_one_to_run(tmp_path, name, args, expected) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.parquet").write_bytes(b"")
    _assert_one_line(_run(tmp_path, args), expected.format(workdir=tmp_path))


def test_a_stored_corpus_smaller_than_the_model_is_refused_before_ray(tmp_path) -> None:
    """data.image_size says 64 but the corpus on disk (pulled, or built with other params)
    stores 16 px images: refused from its card, before any tokenizer or Ray worker."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.parquet").write_bytes(b"")
    card = {"images": {"width": {"min": 16}, "height": {"min": 16}}}
    (tmp_path / "data" / "card.json").write_text(json.dumps(card))
    proc = _run(tmp_path, ["train"])
    _assert_one_line(proc, "stores 16 px images but model clip-small-resnet takes 32 px")
    assert not (tmp_path / "artifacts" / "model").exists()


def test_a_yaml_error_in_params_names_file_line_and_column(tmp_path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(BAD_YAML)
    proc = _run(tmp_path, ["validate"], CLIP_PARAMS=str(params))
    _assert_one_line(proc, f"{params}:4:1: not valid YAML: expected ',' or ']'")


def test_a_missing_user_table_is_one_line(workdir_with_sources) -> None:
    workdir = workdir_with_sources
    table = workdir / "mine" / "table.csv"
    proc = _run(workdir, ["--set", f"data.user_sources=[{table}]", "data", "build"])
    _assert_one_line(proc, f"cannot read user table {table}: no such file")


def test_a_table_without_a_caption_column_is_one_line(workdir_with_sources) -> None:
    workdir = workdir_with_sources
    table = workdir / "mine" / "table.csv"
    table.parent.mkdir()
    table.write_text("image,text\na.png,a cat\n")
    proc = _run(workdir, ["--set", f"data.user_sources=[{table}]", "data", "build"])
    _assert_one_line(proc, f"user table {table} has no 'caption' column")
