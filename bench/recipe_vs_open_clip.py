"""This project's trainer against open_clip's own (open_clip_train, open-clip-torch 3.3.0):
same training shards, model config, tokenizer, batch, schedule and epochs; both models scored
by this project's evaluation.

    .venv/bin/python bench/recipe_vs_open_clip.py --workdir W [--profile default]
        [--model clip-small-resnet] [--epochs E] [--seed S] [--project-workers 1]
        [--same-init] [--project-templates] [--set train.crop_scale=[0.5,1.0] ...]
        [--json out.json] [--skip-install] [--venv .cache/open_clip_venv] [--scratch DIR]

W holds a built and validated corpus (`clip-pipeline --workdir W data build`, then `validate`).
The project's run trains and evaluates in W as `clip-pipeline train` / `evaluate` would (its
artifacts/model, artifacts/metrics.json and MLflow run are replaced); the rest lives in a
scratch folder (--scratch, else a temporary one, removed at the end).

1. open_clip runs in a venv of its own, never a project dependency (default
   .cache/open_clip_venv under the project root): `open-clip-torch[training]==3.3.0` (the
   wheel ships `open_clip_train`; the extra brings webdataset, pandas, fsspec, transformers),
   with `torch==2.13.0`; reused when `import open_clip_train.main` already works there.
   PyPI's torchvision for it (0.28.0) is a CUDA build whose C ops cannot load against the
   local torch 2.13.0+cpu, and its import then fails on two unguarded fake-kernel
   registrations (nms, qnms); open_clip uses none of those ops, so the wrapper that imports
   open_clip skips those two registrations when the ops are absent (TORCHVISION_SHIM).
2. The TRAIN split's shards (quarantined ids dropped) are copied shard by shard into shards
   open_clip's loader reads: `<key>.png` (RGB; an image with transparency composited onto
   white, as the project's preprocessing does) and `<key>.txt`, the sample's first caption.
3. Model: the project's config JSON (open_clip's format) with vocab_size set to CLIP's BPE
   (49,408 tokens), written once to the scratch folder. The project trains it by path
   (`model.name=<file>`, `model.tokenizer=clip-bpe`); open_clip registers the same file
   (`open_clip.add_model_config`) and tokenizes with its SimpleTokenizer, which gives the
   project's clip-bpe ids (tests/model/test_bpe_parity_open_clip.py).
4. `clip-pipeline train` + `evaluate` with the profile's recipe and the overrides below.
5. `open_clip_train.main.main(argv)` in the other venv, mapped from the same settings:
       train.global_batch_size  --batch-size (one process: the whole contrastive batch)
       train.epochs             --epochs, --save-frequency (only epoch_E.pt is written)
       train.lr / weight_decay  --lr / --wd; AdamW betas (0.9, 0.98), eps 1e-6: the project's
       train.warmup_steps       --warmup (cosine schedule after it, both)
       train.grad_clip_norm     --grad-clip-norm
       train.seed               --seed
       train.precision fp32     --precision fp32 (both forced to fp32)
       train.crop_scale         --aug-cfg scale=(lo, hi); null = (1.0, 1.0): on the square
                                images a full-image crop, i.e. the project's resize; a high
                                above 1 (the project's zoom out) is set to 1 for both runs
       train.color_jitter x     color_jitter=(x, x, x, 0) color_jitter_prob=1.0
       train.grayscale_p p      gray_scale_prob=p
       train samples N          --train-num-samples floor(N / B) * B: open_clip rounds an
                                epoch up and rolls into the next pass; the project drops the
                                last partial batch. Both take floor(N / B) steps an epoch
       cpus_per_worker x workers  torch threads of open_clip's process; --workers 1 (a
                                dataloader process, as the project's one ingest CPU a worker)
6. open_clip's epoch_E.pt ("state_dict") is loaded strictly into the project's CLIP (the same
   parameter names), saved as a model bundle with the clip-bpe tokenizer and evaluated by
   components.evaluation.stage.evaluate in a scratch workdir that links W's corpus and
   quarantine report.

What stays different (printed with the table): the project draws one of a sample's captions
at random every pass, open_clip always sees the first; the shuffles differ (the project's
seeded windows, open_clip's shard shuffle + 5,000-sample buffer); open_clip's colour jitter
applies its four ops in random order, the project's in a fixed one; the starting weights are
each trainer's own draw unless --same-init (both start from one project-initialised file:
`model.init_from` / `--pretrained`). The project's run gets caption_templates null (open_clip
has none; --project-templates keeps the profile's, a difference then) and no in-training
zero-shot probe (open_clip runs none); with --project-workers > 1 its BatchNorm sees local
batches (no SyncBatchNorm), open_clip's the whole batch.

Prints the table and the ratio project / open_clip of Twemoji top-1 (--json writes it all):
training wall time (the whole training command: the project's includes starting Ray and
MLflow, open_clip's its imports and model build), steps, Twemoji and OpenMoji zero-shot
top-1/5, retrieval image->text R@1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the project, run from anywhere

OPEN_CLIP_REQUIREMENTS = ("open-clip-torch[training]==3.3.0", "torch==2.13.0", "webdataset")
OPEN_CLIP_NAME = "open_clip"  # --name: the folder of its logs and checkpoints
METRICS = (
    ("zeroshot_heldout_twemoji_top1", "twemoji top1"),
    ("zeroshot_heldout_twemoji_top5", "twemoji top5"),
    ("zeroshot_heldout_top1", "openmoji top1"),
    ("zeroshot_heldout_top5", "openmoji top5"),
    ("retrieval_val_image_to_text_r1", "i2t R@1"),
)
DIFFERENCES = (
    "captions: the project draws one of a sample's captions per pass; open_clip sees the first",
    "shuffle: project seeded windows; open_clip shard shuffle + 5,000-sample buffer",
    "colour jitter (when on): open_clip applies its ops in random order, the project in one",
)
# PyPI's torchvision 0.28.0 (the one for torch 2.13.0) is a CUDA build: its C ops do not load
# against torch 2.13.0+cpu, and it registers fake kernels of two of them (nms, qnms) without
# checking that they loaded, so `import torchvision` fails. open_clip uses none of its C ops
# (transforms, FrozenBatchNorm2d): skip those two registrations when the ops are absent.
TORCHVISION_SHIM = """\
import torch
import torch.library
_register_fake = torch.library.register_fake
def _checked_register_fake(op, *args, **kwargs):
    if isinstance(op, str) and op.startswith("torchvision::"):
        import torchvision.extension
        if not torchvision.extension._has_ops():
            return lambda fn: fn
    return _register_fake(op, *args, **kwargs)
torch.library.register_fake = _checked_register_fake
import torchvision
torch.library.register_fake = _register_fake
"""
# Run in open_clip's venv: register the config, pin the threads, hand the argv to its trainer.
WRAPPER = (
    TORCHVISION_SHIM
    + """\
import sys
import open_clip
config, threads, *argv = sys.argv[1:]
torch.set_num_threads(int(threads))
open_clip.add_model_config(config)
from open_clip_train.main import main
sys.exit(main(argv) or 0)
"""
)


def _stream(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None):
    """Run `cmd`, echoing its output as it comes; (wall seconds, the output). Fails loudly."""
    started = time.perf_counter()
    lines = []
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(f"  | {line}", end="", flush=True)
            lines.append(line)
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return wall, "".join(lines)


def ensure_venv(venv: Path, skip_install: bool) -> float | None:
    """open_clip's venv; the seconds its install took, None when reused as it was."""
    python = venv / "bin" / "python"
    imports = "import open_clip, open_clip_train.main; print(open_clip.__version__)"
    check = [str(python), "-c", TORCHVISION_SHIM + imports]

    def works() -> bool:
        if not python.is_file():
            return False
        found = subprocess.run(check, capture_output=True, text=True)
        return found.returncode == 0 and found.stdout.strip() == "3.3.0"

    if works():
        print(f"open_clip venv: {venv} (reused)")
        return None
    if skip_install:
        raise SystemExit(f"--skip-install, but {venv} has no working open_clip_train 3.3.0")
    print(f"open_clip venv: installing {' '.join(OPEN_CLIP_REQUIREMENTS)} into {venv}")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *OPEN_CLIP_REQUIREMENTS],
        capture_output=True,
        text=True,
    )
    if pip.returncode:
        print(pip.stdout + pip.stderr)
        raise SystemExit(f"pip install into {venv} failed ({pip.returncode})")
    seconds = time.perf_counter() - started
    if not works():
        raise SystemExit(f"{venv}: `import open_clip_train.main` fails after the install")
    print(f"open_clip venv: installed in {seconds:.0f} s")
    return seconds


def bench_config(model: str, scratch: Path, data_cache: Path) -> tuple[Path, int]:
    """The model's config with CLIP's BPE vocabulary, as a file both trainers read."""
    from components.model.bpe_tokenizer import ClipBPETokenizer
    from components.model.clip_vocab import clip_vocab_path
    from components.model.config import CONFIG_DIR, load_config

    source = Path(model) if Path(model).suffix else CONFIG_DIR / f"{model}.json"
    raw = json.loads(source.read_text())
    if raw["text_cfg"].get("tower", "clip") != "clip":
        raise SystemExit(f"{model}: open_clip has no {raw['text_cfg']['tower']} text tower")
    vocab = ClipBPETokenizer.from_vocab_file(clip_vocab_path(data_cache)).vocab_size
    raw["text_cfg"]["vocab_size"] = vocab
    path = scratch / f"{source.stem}-clipbpe-bench.json"  # the stem: open_clip's model name
    path.write_text(json.dumps(raw, indent=2))
    load_config(path)  # the project accepts it
    return path, vocab


def convert_train_shards(settings, out_dir: Path) -> tuple[str, int]:
    """The train split (quarantine dropped) as png + txt shards, one shard at a time;
    (the brace pattern of the shards, the samples written)."""
    import io

    from PIL import Image

    from components.artifacts import VALIDATION
    from components.data.corpus.location import CorpusLocation
    from components.data.corpus.manifest import shard_index
    from components.data.corpus.reader import shard_samples
    from components.data.corpus.webdataset import image_part, write_shard
    from components.model.preprocess import to_rgb
    from components.validation.quarantine import load_quarantined_ids

    corpus = CorpusLocation.of(settings.train.corpus or settings.paths.data, settings.services.s3)
    exclude = load_quarantined_ids(VALIDATION.path(settings.paths.workdir))
    index = shard_index(corpus, "train", exclude)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, total = 0, 0
    for shard, (kept, dropped) in index.items():
        if not kept:
            continue
        dropped = set(dropped)
        samples: dict[str, dict[str, bytes]] = {}
        for key, parts in shard_samples(corpus, shard):
            if key in dropped:
                continue
            meta = json.loads(parts["json"])
            if key in exclude or meta.get("id") in exclude or meta.get("split") != "train":
                continue
            ext, data = image_part(parts) or (None, b"")
            image = Image.open(io.BytesIO(data))
            if ext != "png" or image.mode != "RGB":  # what the project's preprocessing sees
                buffer = io.BytesIO()
                to_rgb(image).save(buffer, format="PNG")
                data = buffer.getvalue()
            samples[key] = {"png": data, "txt": meta["captions"][0].encode("utf-8")}
        if len(samples) != kept:
            raise SystemExit(
                f"{shard}: {len(samples)} train samples read, the manifest says {kept}"
            )
        write_shard(out_dir / f"train-{written:06d}.tar", samples)
        written, total = written + 1, total + len(samples)
    if not written:
        raise SystemExit(f"{corpus.uri}: no training sample")
    last = f"{written - 1:06d}"
    pattern = f"train-{{000000..{last}}}.tar" if written > 1 else "train-000000.tar"
    return str(out_dir / pattern), total


def _merged(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merged(out[key], value) if both else value
    return out


def project_overrides(args, config: Path) -> dict:
    """The --set values of both runs: the user's --set, then the bench's model, tokenizer and
    epochs, and what open_clip has no counterpart of switched off."""
    from components.settings import parse_overrides

    train = {
        "num_workers": args.project_workers,
        "precision": "fp32",
        "samples_per_epoch": None,  # an epoch is a pass
        "accum_micro_batches": 1,
        "loss": "clip",
        "lock_image_tower": False,
        "lock_text_tower": False,
    }
    if args.epochs is not None:
        train["epochs"] = args.epochs
    if args.seed is not None:
        train["seed"] = args.seed
    if not args.project_templates:
        train["caption_templates"] = None  # open_clip has no caption templates
    forced = {
        "model": {"name": str(config), "tokenizer": "clip-bpe", "init_from": None},
        "train": train,
        "evaluate": {"every_steps": None},  # no in-training zero-shot probe (open_clip has none)
    }
    return _merged(parse_overrides(args.set), forced)


def _set_flags(overrides: dict, prefix: str = "") -> list[str]:
    flags = []
    for key, value in overrides.items():
        if isinstance(value, dict):
            flags += _set_flags(value, f"{prefix}{key}.")
        else:
            flags += ["--set", f"{prefix}{key}={json.dumps(value)}"]
    return flags


def run_project(args, overrides: dict) -> dict:
    cli = Path(sys.executable).parent / "clip-pipeline"
    base = [str(cli), "--workdir", str(args.workdir), "--profile", args.profile]
    base += _set_flags(overrides)
    print("project: clip-pipeline train")
    train_s, out = _stream([*base, "train"], cwd=ROOT)
    steps = re.findall(r"steps: (\d+)", out)
    print("project: clip-pipeline evaluate")
    _stream([*base, "evaluate"], cwd=ROOT)
    metrics = json.loads((args.workdir / "artifacts" / "metrics.json").read_text())
    return {"train_s": train_s, "steps": int(steps[-1]) if steps else None, "metrics": metrics}


def open_clip_argv(settings, name: str, shards: str, samples: int, logs: Path, init) -> list:
    t = settings.train
    batch = t.global_batch_size
    if samples < batch:
        raise SystemExit(f"{samples} training samples cannot fill one batch of {batch}")
    # scale (1.0, 1.0) on a square image: every try fails but the exact one, then the fallback
    # is the whole image, i.e. the project's resize. open_clip 3.3.0 warns "Unused augmentation
    # cfg items" for the jitter and grayscale keys, yet applies both (transform.py reads them
    # from the AugmentationCfg, the warning from a dict it popped only `scale` from).
    aug = [f"scale={tuple(t.crop_scale) if t.crop_scale else (1.0, 1.0)}"]
    if t.color_jitter:
        x = t.color_jitter
        aug += [f"color_jitter=({x},{x},{x},0.0)", "color_jitter_prob=1.0"]
    if t.grayscale_p:
        aug += [f"gray_scale_prob={t.grayscale_p}"]
    argv = [
        "--train-data", shards, "--dataset-type", "webdataset",
        "--train-num-samples", str(samples // batch * batch),
        "--batch-size", str(batch), "--epochs", str(t.epochs),
        "--lr", str(t.lr), "--wd", str(t.weight_decay), "--warmup", str(t.warmup_steps),
        "--beta1", "0.9", "--beta2", "0.98", "--eps", "1e-6",
        "--grad-clip-norm", str(t.grad_clip_norm), "--seed", str(t.seed),
        "--precision", "fp32", "--workers", "1", "--model", name,
        "--save-frequency", str(t.epochs), "--logs", str(logs), "--name", OPEN_CLIP_NAME,
        "--report-to", "none", "--log-every-n-steps", "10", "--aug-cfg", *aug,
    ]  # fmt: skip
    return argv + (["--pretrained", str(init)] if init else [])


def run_open_clip(venv: Path, config: Path, argv: list[str], threads: int) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [str(venv / "bin" / "python"), "-c", WRAPPER, str(config), str(threads), *argv]
    print("open_clip: open_clip_train.main " + " ".join(argv))
    train_s, _ = _stream(cmd, env=env)
    return train_s


def open_clip_bundle(checkpoint: Path, config: Path, out_dir: Path, data_cache: Path) -> Path:
    """open_clip's final weights in the project's CLIP, saved as a bundle (clip-bpe)."""
    import torch

    from components.model.bundle import save_bundle
    from components.model.clip import CLIP
    from components.model.config import load_config
    from components.model.tokenizers import build_tokenizer

    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = {k.removeprefix("module."): v for k, v in saved["state_dict"].items()}
    cfg = load_config(config)
    model = CLIP(cfg)
    model.load_state_dict(state, strict=True)  # the same parameter names, every one
    tokenizer = build_tokenizer("clip-bpe", [], cfg.text_cfg, data_cache)
    return save_bundle(model, tokenizer, out_dir)


def evaluate_bundle(args, scratch: Path, model_dir: Path, overrides: dict) -> dict:
    """The project's evaluation of `model_dir`, in a scratch workdir that links W's corpus
    and quarantine report (W's metrics.json and figures stay the project run's)."""
    from components.settings import load_settings
    from components.stages import EVALUATE

    workdir = scratch / "eval_workdir"
    (workdir / "artifacts").mkdir(parents=True, exist_ok=True)
    for name in ("data", "artifacts/validation"):
        link = workdir / name
        if not link.exists():
            link.symlink_to((args.workdir / name).resolve(), target_is_directory=True)
    settings = load_settings(args.profile, workdir=workdir, overrides=overrides)
    return EVALUATE.run(settings, model_dir=model_dir, log=False)


def same_init_weights(config: Path, seed: int, path: Path) -> Path:
    """One project-initialised model's weights, the start of both runs (--same-init)."""
    import torch
    from safetensors.torch import save_file

    from components.model.clip import create_model

    torch.manual_seed(seed)
    model = create_model(config)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b:
        return None
    return a / b


def print_table(rows: dict[str, dict], ratio: float | None) -> None:
    head = f"{'trainer':<10} {'train s':>8} {'steps':>6}" + "".join(
        f" {label:>13}" for _, label in METRICS
    )
    print(head)
    print("-" * len(head))
    for name, row in rows.items():
        steps = "" if row["steps"] is None else str(row["steps"])
        cells = "".join(f" {row['metrics'].get(key, math.nan):>13.4f}" for key, _ in METRICS)
        print(f"{name:<10} {row['train_s']:>8.1f} {steps:>6}{cells}")
    shown = "n/a (open_clip's top-1 is 0)" if ratio is None else f"{ratio:.3f}"
    print(f"ratio project / open_clip of Twemoji top-1: {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, required=True, help="a built, validated corpus")
    parser.add_argument("--profile", default="default", help="params.yaml profile")
    parser.add_argument("--model", default="clip-small-resnet", help="a config name or JSON path")
    parser.add_argument("--epochs", type=int, default=None, help="default: the profile's")
    parser.add_argument("--seed", type=int, default=None, help="default: the profile's")
    parser.add_argument(
        "--project-workers", type=int, default=1, help="Ray workers (1: as open_clip's one process)"
    )
    parser.add_argument("--same-init", action="store_true", help="both start from one init")
    parser.add_argument(
        "--project-templates",
        action="store_true",
        help="keep the profile's train.caption_templates for the project (open_clip has none)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a params.yaml override for both runs, e.g. train.crop_scale=[0.5,1.0] (repeatable)",
    )
    parser.add_argument("--venv", type=Path, default=ROOT / ".cache" / "open_clip_venv")
    parser.add_argument("--skip-install", action="store_true", help="use --venv as it is")
    parser.add_argument("--scratch", type=Path, default=None, help="kept; default: a temp dir")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    args.workdir = args.workdir.resolve()

    from components.settings import load_settings

    if not (args.workdir / "data" / "manifest.parquet").is_file():
        raise SystemExit(f"{args.workdir}: no built corpus (data/manifest.parquet)")
    if not (args.workdir / "artifacts" / "validation" / "quarantine.csv").is_file():
        raise SystemExit(f"{args.workdir}: not validated (artifacts/validation/quarantine.csv)")
    install_s = ensure_venv(args.venv.resolve(), args.skip_install)

    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="recipe-vs-open-clip-"))
    scratch = scratch.resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        base = load_settings(args.profile, workdir=args.workdir)
        config, vocab = bench_config(args.model, scratch, base.services.data_cache)
        overrides = project_overrides(args, config)
        init = None
        if args.same_init:
            seed = base.train.seed if args.seed is None else args.seed
            init = same_init_weights(config, seed, scratch / "init.safetensors")
            overrides["model"]["init_from"] = str(init)
        settings = load_settings(args.profile, workdir=args.workdir, overrides=overrides)
        crop = settings.train.crop_scale
        if crop is not None and crop[1] > 1:
            # torchvision's RandomResizedCrop has no zoom out: a share above 1 never fits and
            # falls back to the whole image. Both runs crop within the image instead.
            print(f"train.crop_scale {list(crop)} -> [{crop[0]}, 1.0] for both trainers: "
                  "open_clip's crop cannot zoom out")  # fmt: skip
            overrides["train"]["crop_scale"] = [crop[0], 1.0]
            settings = load_settings(args.profile, workdir=args.workdir, overrides=overrides)
        t = settings.train
        print(f"model {args.model} (vocab {vocab}) as {config.name}; profile {args.profile}: "
              f"{t.epochs} epochs, batch {t.global_batch_size}, lr {t.lr}, wd {t.weight_decay}, "
              f"warmup {t.warmup_steps}, seed {t.seed}")  # fmt: skip

        started = time.perf_counter()
        shards, samples = convert_train_shards(settings, scratch / "shards")
        print(f"converted {samples} training samples in {time.perf_counter() - started:.1f} s")

        project = run_project(args, overrides)
        logs = scratch / "logs"
        if logs.exists():
            shutil.rmtree(logs)  # open_clip refuses an experiment folder that exists
        argv = open_clip_argv(settings, config.stem, shards, samples, logs, init)
        threads = max(1, int(t.cpus_per_worker)) * t.num_workers
        oc_train_s = run_open_clip(args.venv.resolve(), config, argv, threads)
        checkpoint = logs / OPEN_CLIP_NAME / "checkpoints" / f"epoch_{t.epochs}.pt"
        bundle = open_clip_bundle(
            checkpoint, config, scratch / "open_clip_bundle", settings.services.data_cache
        )
        print("open_clip: the project's evaluation of its model")
        oc_metrics = evaluate_bundle(args, scratch, bundle, overrides)
        open_clip = {
            "train_s": oc_train_s,
            "steps": t.epochs * (samples // t.global_batch_size),
            "metrics": oc_metrics,
        }
    finally:
        if args.scratch is None:
            shutil.rmtree(scratch, ignore_errors=True)

    rows = {"project": project, "open_clip": open_clip}
    key = "zeroshot_heldout_twemoji_top1"
    ratio = _ratio(project["metrics"].get(key), open_clip["metrics"].get(key))
    print()
    print_table(rows, ratio)
    differences = list(DIFFERENCES)
    if not args.same_init:
        differences.append("starting weights: each trainer's own random draw (--same-init)")
    if args.project_templates and t.caption_templates:
        differences.append(f"caption templates ({t.caption_templates}): the project's run only")
    if args.project_workers > 1:
        differences.append("BatchNorm: project's per-worker local batches, open_clip's whole batch")
    print("differences not removed: " + "; ".join(differences))
    figures = {
        "workdir": str(args.workdir),
        "profile": args.profile,
        "model": args.model,
        "vocab_size": vocab,
        "train_samples": samples,
        "epochs": t.epochs,
        "global_batch_size": t.global_batch_size,
        "lr": t.lr,
        "weight_decay": t.weight_decay,
        "warmup_steps": t.warmup_steps,
        "seed": t.seed,
        "project_workers": args.project_workers,
        "same_init": args.same_init,
        "venv_install_s": install_s,
        "open_clip_argv": argv,
        "project_overrides": _set_flags(overrides),
        "trainers": rows,
        "ratio_twemoji_top1_project_over_open_clip": ratio,
        "differences": differences,
    }
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
