"""Benchmark of issue 6: onnxruntime (the served model) against torch eager, on CPU.

Both towers at batch 1 (one request) and batch 64 (a bulk job), one process run, alternating
the two runtimes; prints each median latency and the ratio torch / onnxruntime (> 1: ONNX faster).

    .venv/bin/python bench/onnx_vs_torch.py [--model-dir artifacts/model | --model clip-small]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import median_step_s  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, help="a trained bundle (artifacts/model)")
    parser.add_argument("--model", default="clip-small", help="else a fresh model of this config")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import onnxruntime as ort
    import torch

    from components.export.onnx_export import ImageTower, TextTower, export_towers
    from components.model.clip import create_model

    if args.model_dir:
        from components.model.bundle import load_bundle

        model, _ = load_bundle(args.model_dir)
        name = str(args.model_dir)
    else:
        torch.manual_seed(0)
        model, name = create_model(args.model), args.model
    model.eval()
    cfg, cpu = model.config, torch.device("cpu")
    size, length, vocab = (
        model.visual.image_size,
        cfg.text_cfg.context_length,
        cfg.text_cfg.vocab_size,
    )
    figures: dict = {"model": name, "threads": torch.get_num_threads(), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        image_path, text_path = export_towers(model, length, Path(tmp), opset=18)
        sessions = {
            "image": ort.InferenceSession(str(image_path), providers=["CPUExecutionProvider"]),
            "text": ort.InferenceSession(str(text_path), providers=["CPUExecutionProvider"]),
        }
        towers = {"image": ImageTower(model).eval(), "text": TextTower(model).eval()}
        for batch in args.batches:
            gen = torch.Generator().manual_seed(batch)
            tokens = torch.randint(1, vocab - 1, (batch, length), generator=gen)
            tokens[:, length // 2] = vocab - 1
            inputs = {
                "image": ("images", torch.randn(batch, 3, size, size, generator=gen)),
                "text": ("tokens", tokens),
            }
            for tower, (input_name, x) in inputs.items():
                feed = {input_name: x.numpy()}

                def run_onnx(tower=tower, feed=feed):
                    return sessions[tower].run(None, feed)

                def run_torch(tower=tower, x=x):
                    with torch.inference_mode():
                        return towers[tower](x)

                times = {"torch": [], "onnx": []}
                for _ in range(2):  # alternate, so drift hits both alike
                    times["torch"].append(median_step_s(run_torch, cpu, args.steps, args.warmup))
                    times["onnx"].append(median_step_s(run_onnx, cpu, args.steps, args.warmup))
                t_torch, t_onnx = min(times["torch"]), min(times["onnx"])
                row = {
                    "tower": tower,
                    "batch": batch,
                    "torch_ms": t_torch * 1e3,
                    "onnx_ms": t_onnx * 1e3,
                    "ratio_torch_over_onnx": t_torch / t_onnx,
                }
                figures["runs"].append(row)
                print(
                    f"{tower:5s} tower, batch {batch:3d}: torch {row['torch_ms']:8.2f} ms, "
                    f"onnxruntime {row['onnx_ms']:8.2f} ms -> "
                    f"ratio {row['ratio_torch_over_onnx']:.2f}"
                )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
