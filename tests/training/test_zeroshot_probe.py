"""The zero-shot probe that rank 0 runs during training: it scores the model as it is, and
leaves it exactly as it found it (weights, module modes, random state)."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image, ImageDraw

from components.model.clip import create_model
from components.model.tokenizer import WordTokenizer
from components.training.locking import lock_towers
from components.training.zeroshot_probe import ProbeSet, ZeroShotProbe

CONCEPTS = ["red circle", "blue square", "green triangle", "yellow star", "black line", "pink dot"]


def _picture(n: int) -> bytes:
    image = Image.new("RGB", (40, 40), "white")
    ImageDraw.Draw(image).ellipse((n, n, 20 + 2 * n, 30), fill=(40 * n, 255 - 30 * n, 90))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("model_name", ["clip-tiny", "clip-tiny-resnet"])
def test_the_probe_scores_without_changing_the_model(model_name: str) -> None:
    torch.manual_seed(0)
    model = create_model(model_name)
    lock_towers(model, image=True, text=False)  # a locked tower stays in eval mode
    model.train()
    model.visual.eval()
    modes = {name: m.training for name, m in model.named_modules()}
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    templates = ["a photo of a {}.", "{}"]
    tokenizer = WordTokenizer.train(
        [t.format(c) for c in CONCEPTS for t in templates], 64, model.config.text_cfg.context_length
    )
    probe_set = ProbeSet(
        every_steps=5,
        templates=templates,
        images=[_picture(n) for n in range(len(CONCEPTS))],
        concepts=CONCEPTS,
    )
    probe = ZeroShotProbe(probe_set, tokenizer, model.config.vision_cfg.image_size)
    assert [probe.due(s, 12) for s in (4, 5, 10, 11, 12)] == [False, True, True, False, True]

    rng = torch.get_rng_state()
    measured = probe.measure(model)
    assert set(measured) == {"zeroshot_probe/top1", "zeroshot_probe/top5",
                             "zeroshot_probe/chance_top1"}  # fmt: skip
    assert measured["zeroshot_probe/chance_top1"] == pytest.approx(1 / len(CONCEPTS))
    assert 0.0 <= measured["zeroshot_probe/top1"] <= measured["zeroshot_probe/top5"] <= 1.0
    assert measured == probe.measure(model)  # the same model, the same figures
    assert torch.equal(torch.get_rng_state(), rng)  # no random number drawn
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
