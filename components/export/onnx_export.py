"""ONNX export of both towers (dynamic batch, single files) and a parity check with onnxruntime.

Each exported tower returns normalised embeddings, the quantity zero-shot scoring uses, so the
parity tolerance applies to what a served model actually compares.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from components.artifacts import ONNX

# The exporter warns once per missing torchvision operator; this project uses none of them.
logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)

IMAGE_ONNX, TEXT_ONNX, PARITY_FILE = (
    ONNX.files
)  # image_encoder.onnx, text_encoder.onnx, parity.json


class ImageTower(nn.Module):
    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # [B, 3, S, S] float -> [B, E]
        return F.normalize(self.model.encode_image(images), dim=-1)


class TextTower(nn.Module):
    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # [B, L] int64 -> [B, E]
        return F.normalize(self.model.encode_text(tokens), dim=-1)


@dataclass(frozen=True)
class ParityReport:
    image_max_abs_diff: float
    text_max_abs_diff: float
    atol: float
    n_images: int
    n_texts: int
    # tokenizer.json against the model's tokenizer, on every template with every label
    n_prompts_tokenized: int = 0
    tokenizer_mismatches: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        close = max(self.image_max_abs_diff, self.text_max_abs_diff) <= self.atol
        return close and not self.tokenizer_mismatches


def _export(
    module: nn.Module, example: torch.Tensor, path: Path, input_name: str, opset: int
) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    batch = torch.export.Dim("batch", min=1, max=4096)
    torch.onnx.export(
        module.eval(),
        (example,),
        str(tmp),
        input_names=[input_name],
        output_names=["features"],
        dynamic_shapes={input_name: {0: batch}},  # input_name is the forward argument's name
        opset_version=opset,
        dynamo=True,
        external_data=False,  # one self-contained file per tower
        verbose=False,
    )
    os.replace(tmp, path)


def export_towers(model, context_length: int, out_dir: Path, opset: int) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    size = model.visual.image_size
    image_path, text_path = out_dir / IMAGE_ONNX, out_dir / TEXT_ONNX
    with torch.no_grad():
        _export(ImageTower(model), torch.randn(2, 3, size, size), image_path, "images", opset)
        tokens = torch.zeros(2, context_length, dtype=torch.long)
        tokens[:, 0], tokens[:, 1] = (
            model.config.text_cfg.vocab_size - 2,
            model.config.text_cfg.vocab_size - 1,
        )
        _export(TextTower(model), tokens, text_path, "tokens", opset)
    return image_path, text_path


def check_parity(
    model,
    image_path: Path,
    text_path: Path,
    images: torch.Tensor,
    tokens: torch.Tensor,
    atol: float,
) -> ParityReport:
    """Max abs difference of normalised embeddings, torch eager vs onnxruntime, on real inputs."""
    import onnxruntime as ort

    with torch.no_grad():
        want_image = ImageTower(model)(images).numpy()
        want_text = TextTower(model)(tokens).numpy()
    image_session = ort.InferenceSession(str(image_path), providers=["CPUExecutionProvider"])
    text_session = ort.InferenceSession(str(text_path), providers=["CPUExecutionProvider"])
    got_image = image_session.run(None, {"images": images.numpy()})[0]
    got_text = text_session.run(None, {"tokens": tokens.numpy()})[0]
    return ParityReport(
        image_max_abs_diff=float(abs(got_image - want_image).max()),
        text_max_abs_diff=float(abs(got_text - want_text).max()),
        atol=atol,
        n_images=len(images),
        n_texts=len(tokens),
    )


def write_parity(report: ParityReport, out_dir: Path) -> Path:
    path = out_dir / PARITY_FILE
    path.write_text(json.dumps({**asdict(report), "passed": report.passed}, indent=2))
    return path
