"""What makes the ONNX folder usable without this project: the tokenizer as a `tokenizers`
file and preprocess.json, the recipe for turning an image and a label into the towers' inputs
and their outputs into probabilities (also stamped into each ONNX file's metadata_props).

docs/onnx.md shows the whole zero-shot classifier in a page of plain onnxruntime + tokenizers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from components.export.hf_tokenizer import hf_tokenizer, mismatches
from components.model.preprocess import CLIP_MEAN, CLIP_STD

PREPROCESS_FILE, TOKENIZER_FILE = "preprocess.json", "tokenizer.json"
METADATA_KEY = "clip_pipeline.preprocess"  # the same JSON, in each ONNX file's metadata_props
FORMAT = "clip-zeroshot-onnx"
FORMAT_VERSION = 1


def preprocess_spec(
    model: Any, context_length: int, templates: list[str], labels: list[str]
) -> dict[str, Any]:
    """The recipe, from the trained model itself: its image size and its learned temperature
    (the scale the pyfunc and anyone else must multiply cosine similarities by)."""
    from components.export.onnx_export import IMAGE_ONNX, TEXT_ONNX

    bias = getattr(model, "logit_bias", None)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "files": {
            "image_encoder": IMAGE_ONNX,
            "text_encoder": TEXT_ONNX,
            "tokenizer": TOKENIZER_FILE,
        },
        "image": {
            "input": "images",
            "size": int(model.visual.image_size),
            "layout": "NCHW float32",
            "mode": "RGB; transparency composited onto white",
            "resize": "bicubic (Pillow): the shorter side to size, then the center square",
            "scale": 1 / 255,
            "mean": list(CLIP_MEAN),
            "std": list(CLIP_STD),
        },
        "text": {
            "input": "tokens",
            "dtype": "int64",
            "context_length": int(context_length),
            "tokenizer": "Tokenizer.from_file(tokenizer.json).encode(text).ids is one row",
        },
        "outputs": "features: L2-normalised embeddings [N, E] from both towers",
        "logit_scale": float(model.logit_scale.detach().exp()),
        "logit_bias": None if bias is None else float(bias.detach()),
        "probabilities": "softmax" if bias is None else "sigmoid",
        "templates": list(templates),
        "labels": list(labels),
    }


def _stamp(path: Path, spec: dict[str, Any]) -> None:
    """Put the recipe into the ONNX file's metadata_props (rewritten in place, same graph)."""
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in (
        (METADATA_KEY, json.dumps(spec)),
        ("logit_scale", repr(spec["logit_scale"])),
        ("image_size", str(spec["image"]["size"])),
    ):
        proto.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.save(proto, str(path))


def write_standalone(out_dir: Path, spec: dict[str, Any], tokenizer: Any) -> list[str]:
    """tokenizer.json and preprocess.json beside the ONNX files, the recipe in their metadata.
    Returns the prompts (every template with every label) on which tokenizer.json and the
    model's own tokenizer disagree: the export fails unless there are none."""
    hf = hf_tokenizer(tokenizer)
    hf.save(str(out_dir / TOKENIZER_FILE))
    (out_dir / PREPROCESS_FILE).write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
    for name in (spec["files"]["image_encoder"], spec["files"]["text_encoder"]):
        _stamp(out_dir / name, spec)
    prompts = [t.format(label) for label in spec["labels"] for t in spec["templates"]]
    return mismatches(tokenizer, hf, prompts)
