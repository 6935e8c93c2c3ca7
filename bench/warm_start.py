"""Warm start vs from scratch: steps to reach the champion's gate metric.

One process run, one workdir, the `tiny` profile (or --profile): build and validate the corpus,
train a champion from scratch for the profile's epochs, evaluate it (its gate value G), register
its training run's bundle as version 1 and alias it champion. Then, for each of --epochs,
train from scratch and from the champion (`model.init_from: champion`) for that many epochs,
evaluate both, and print the gate metric per step count and the first step count at which
each reaches G. Both arms: same corpus, recipe, seed and evaluation code; only the start differs.

    python bench/warm_start.py --epochs 1 2 4 8
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from components.settings import load_settings  # noqa: E402
from components.stages import BUILD, EVALUATE, TRAIN, VALIDATE  # noqa: E402


def _settings(profile: str, workdir: Path, train: dict, model: dict | None = None):
    overrides = {"train": train} | ({"model": model} if model else {})
    return load_settings(profile, workdir=workdir, overrides=overrides)


def _train_and_score(settings, label: str) -> dict:
    started = time.perf_counter()
    out = TRAIN.run(settings)
    metrics = EVALUATE.run(settings, log=False)
    gate = settings.evaluate.gate_metric
    row = {
        "arm": label,
        "steps": out.steps,
        "gate": metrics[gate],
        "top5": metrics.get(gate.replace("top1", "top5"), float("nan")),
        "final_loss": out.final_loss,
        "wall_s": time.perf_counter() - started,
        "run_id": out.run_id,
    }
    print(json.dumps(row), flush=True)
    return row


def _register_champion(settings, run_id: str) -> None:
    """Version 1 = the champion's training run (its model_bundle), aliased champion: what
    `model.init_from: champion` looks up (export and ONNX do not matter to a warm start)."""
    from components.tracking.runs import configure_mlflow

    client = configure_mlflow(settings.tracking)
    name = settings.registry.model_name
    client.create_registered_model(name)
    run = client.get_run(run_id)
    version = client.create_model_version(
        name, f"{run.info.artifact_uri}/model_bundle", run_id=run_id
    )
    client.set_registered_model_alias(name, settings.registry.champion_alias, version.version)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="warm-start-"))
    base = load_settings(args.profile, workdir=workdir)
    BUILD.run(base)
    VALIDATE.run(base)

    champion = _train_and_score(base, f"champion (scratch, {base.train.epochs} epochs)")
    _register_champion(base, champion["run_id"])
    target = champion["gate"]
    rows = []
    for epochs in args.epochs:
        scratch = _settings(args.profile, workdir, {"epochs": epochs})
        warm = _settings(args.profile, workdir, {"epochs": epochs}, {"init_from": "champion"})
        rows.append(_train_and_score(scratch, f"scratch {epochs} epochs"))
        rows.append(_train_and_score(warm, f"warm {epochs} epochs"))

    gate = base.evaluate.gate_metric
    print(f"\nchampion: {gate} = {target:.4f} after {champion['steps']} steps from scratch")
    print(f"{'arm':<28}{'steps':>7}{gate:>24}{'top5':>8}{'loss':>8}")
    for row in rows:
        print(
            f"{row['arm']:<28}{row['steps']:>7}{row['gate']:>24.4f}{row['top5']:>8.4f}"
            f"{row['final_loss']:>8.3f}"
        )
    for arm in ("scratch", "warm"):
        reached = [r["steps"] for r in rows if r["arm"].startswith(arm) and r["gate"] >= target]
        steps = min(reached) if reached else None
        if arm == "scratch" and steps is None:
            steps = champion["steps"]  # the champion's own run is the scratch arm's answer
        print(f"{arm}: reaches {target:.4f} at {steps} steps")
    print(f"workdir: {workdir}")


if __name__ == "__main__":
    main()
