"""The registered MLflow model: a zero-shot image classifier running on the ONNX towers.

Input: a DataFrame with an `image` column (raw bytes, or base64 text as JSON requests send).
Candidate labels come from the `labels` param (the held-out concepts when absent). Output: one
row per image, one column per label: the probabilities of the model's own head, softmax over
the labels of logit_scale x cosine similarity (the temperature the model learned), or, for a
SigLIP model, the sigmoid of that plus its bias. Everything it needs is in the exported folder's
preprocess.json (components/export/standalone.py).

An image that does not decode is the caller's mistake: the scoring server answers 400 with the
row and the reason. A server never reads a file named in a request.
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

from components.model.preprocess import eval_transform

# An image bigger than this is refused before it is decoded (a request is untrusted input).
MAX_REQUEST_PIXELS = 4096 * 4096
REQUEST_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")


class BadImage(ValueError):
    """One request image that cannot be used; the message says why."""


def _image_bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as err:
            raise BadImage("not base64 text (send the image's bytes, base64-encoded)") from err
    raise BadImage(f"an image must be bytes or base64 text, not {type(value).__name__}")


def preprocess(data: bytes, spec: dict) -> np.ndarray:
    """Image bytes -> normalised float32 [3, S, S], as preprocess.json describes it."""
    from PIL import Image, UnidentifiedImageError

    size = spec["size"]
    try:
        with Image.open(io.BytesIO(data), formats=REQUEST_FORMATS) as img:
            width, height = img.size  # from the header: checked before anything is decoded
            img = img.convert("RGBA") if width * height <= MAX_REQUEST_PIXELS else None
    except UnidentifiedImageError as err:
        raise BadImage(f"not a {', '.join(REQUEST_FORMATS)} image") from err
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise BadImage(f"the image does not decode ({err})") from err
    if img is None:
        raise BadImage(f"{width}x{height} is above {MAX_REQUEST_PIXELS:,} pixels")
    # the evaluation view, from the one place that derives it from the model's size
    pixels = eval_transform(size).image(img)  # uint8 [S, S, 3]
    array = pixels.astype(np.float32) * np.float32(spec["scale"])  # [S, S, 3]
    array = (array - np.array(spec["mean"], np.float32)) / np.array(spec["std"], np.float32)
    return array.transpose(2, 0, 1)


def probabilities(logits: np.ndarray, kind: str) -> np.ndarray:  # [N, C] -> [N, C]
    if kind == "sigmoid":
        return 1.0 / (1.0 + np.exp(-logits))
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


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
        self.spec = json.loads(Path(context.artifacts["preprocess"]).read_text())
        self._class_cache: dict[tuple[str, ...], np.ndarray] = {}

    def _class_embeddings(self, labels: tuple[str, ...]) -> np.ndarray:  # [C, E]
        if labels not in self._class_cache:
            templates = self.spec["templates"]
            prompts = [t.format(label) for label in labels for t in templates]
            tokens = np.array([self.tokenizer.encode(p) for p in prompts], dtype=np.int64)
            feats = self.text_session.run(None, {"tokens": tokens})[0]  # [C*T, E], normalised
            feats = feats.reshape(len(labels), len(templates), -1).mean(axis=1)
            self._class_cache[labels] = feats / np.linalg.norm(feats, axis=1, keepdims=True)
        return self._class_cache[labels]

    def _images(self, column: pd.Series) -> np.ndarray:  # [N, 3, S, S]
        from mlflow.exceptions import MlflowException

        arrays, problems = [], []
        for row, value in enumerate(column):
            try:
                arrays.append(preprocess(_image_bytes(value), self.spec["image"]))
            except BadImage as err:
                problems.append(f"row {row}: {err}")
        if problems:  # the scoring server answers 400 with this message
            raise MlflowException.invalid_parameter_value("; ".join(problems))
        return np.stack(arrays)

    def predict(
        self, context, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        from mlflow.exceptions import MlflowException

        labels = tuple((params or {}).get("labels") or self.spec["labels"])
        if not labels:
            raise MlflowException.invalid_parameter_value(
                "no candidate labels: pass params={'labels': [...]}"
            )
        if "image" not in model_input.columns:
            raise MlflowException.invalid_parameter_value(
                "the input needs an 'image' column (bytes or base64 text)"
            )
        images = self._images(model_input["image"])
        image_features = self.image_session.run(None, {"images": images})[0]  # [N, E], normalised
        cosine = image_features @ self._class_embeddings(labels).T  # [N, C]
        logits = self.spec["logit_scale"] * cosine + (self.spec["logit_bias"] or 0.0)
        return pd.DataFrame(probabilities(logits, self.spec["probabilities"]), columns=list(labels))
