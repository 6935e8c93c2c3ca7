"""The registered MLflow model: a zero-shot image classifier running on the ONNX towers.

Input: a DataFrame with an `image` column (raw bytes, a file path, or base64 text, as JSON
requests send). Candidate labels come from the `labels` param (the training concepts when
absent). Output: one row per image, one column per label, the softmax probabilities.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from components.model.preprocess import CLIP_MEAN, CLIP_STD

ZERO_SHOT_SCALE = 100.0


def _image_bytes(value) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        if len(value) < 4096 and Path(value).is_file():
            return Path(value).read_bytes()
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as err:
            raise ValueError("image must be bytes, an existing file path or base64 text") from err
    raise ValueError(f"unsupported image value of type {type(value).__name__}")


def preprocess(data: bytes, size: int) -> np.ndarray:
    """Image bytes -> normalised float32 [3, S, S], as training saw them (RGB on white)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        img = img.convert("RGBA")
        canvas = Image.new("RGBA", img.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(canvas, img).convert("RGB")
        if rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.Resampling.BICUBIC)
    array = np.asarray(rgb, dtype=np.float32) / 255.0  # [S, S, 3]
    array = (array - np.array(CLIP_MEAN, np.float32)) / np.array(CLIP_STD, np.float32)
    return array.transpose(2, 0, 1)


class ZeroShotClassifier(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        import onnxruntime as ort

        from components.model.tokenizers import load_tokenizer

        providers = ["CPUExecutionProvider"]
        self.image_session = ort.InferenceSession(
            context.artifacts["image_encoder"], providers=providers
        )
        self.text_session = ort.InferenceSession(
            context.artifacts["text_encoder"], providers=providers
        )
        self.tokenizer = load_tokenizer(Path(context.artifacts["tokenizer"]))
        meta = json.loads(Path(context.artifacts["meta"]).read_text())
        self.image_size, self.templates = meta["image_size"], meta["templates"]
        self.default_labels = meta["labels"]
        self._class_cache: dict[tuple[str, ...], np.ndarray] = {}

    def _class_embeddings(self, labels: tuple[str, ...]) -> np.ndarray:  # [C, E]
        if labels not in self._class_cache:
            prompts = [t.format(label) for label in labels for t in self.templates]
            tokens = np.array([self.tokenizer.encode(p) for p in prompts], dtype=np.int64)
            feats = self.text_session.run(None, {"tokens": tokens})[0]  # [C*T, E], normalised
            feats = feats.reshape(len(labels), len(self.templates), -1).mean(axis=1)
            self._class_cache[labels] = feats / np.linalg.norm(feats, axis=1, keepdims=True)
        return self._class_cache[labels]

    def predict(
        self, context, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        labels = tuple((params or {}).get("labels") or self.default_labels)
        if not labels:
            raise ValueError("no candidate labels: pass params={'labels': [...]}")
        if "image" not in model_input.columns:
            raise ValueError("input needs an 'image' column (bytes, file path or base64)")
        images = np.stack(
            [preprocess(_image_bytes(v), self.image_size) for v in model_input["image"]]
        )
        image_features = self.image_session.run(None, {"images": images})[0]  # [N, E], normalised
        logits = ZERO_SHOT_SCALE * image_features @ self._class_embeddings(labels).T  # [N, C]
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return pd.DataFrame(probs, columns=list(labels))
