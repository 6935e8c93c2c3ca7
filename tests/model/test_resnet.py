"""The ModifiedResNet tower: OpenAI's layout, identity-initialised blocks, exportable."""

from __future__ import annotations

import torch

from components.export.onnx_export import check_parity, export_towers
from components.model.clip import CLIP, create_model
from components.model.config import CLIPConfig

SMALL_RESNET = CLIPConfig.model_validate(
    {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 256, "width": 32, "heads": 2, "layers": 1},
    }
)


def test_rn50_has_openai_key_names_and_shapes():
    with torch.device("meta"):
        state = create_model("RN50").state_dict()
    expected = {
        "visual.conv1.weight": (32, 3, 3, 3),
        "visual.conv3.weight": (64, 32, 3, 3),
        "visual.bn1.running_mean": (32,),
        "visual.layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "visual.layer4.2.conv3.weight": (2048, 512, 1, 1),
        "visual.attnpool.positional_embedding": (50, 2048),
        "visual.attnpool.q_proj.weight": (2048, 2048),
        "visual.attnpool.c_proj.weight": (1024, 2048),
        "text_projection": (512, 1024),
    }
    for key, shape in expected.items():
        assert tuple(state[key].shape) == shape, key


def test_residual_blocks_start_as_identity_and_shapes_flow():
    torch.manual_seed(0)
    model = CLIP(SMALL_RESNET).eval()
    for stage in (model.visual.layer1, model.visual.layer4):
        assert all(torch.count_nonzero(block.bn3.weight) == 0 for block in stage)
    with torch.no_grad():
        features = model.encode_image(torch.randn(3, 3, 64, 64))
    assert features.shape == (3, 32) and torch.isfinite(features).all()


def test_resnet_tower_exports_to_onnx_with_parity(tmp_path):
    torch.manual_seed(0)
    model = CLIP(SMALL_RESNET).eval()
    image_path, text_path = export_towers(model, 16, tmp_path, opset=18)
    tokens = torch.zeros(4, 16, dtype=torch.long)
    tokens[:, 0], tokens[:, 1:4], tokens[:, 4] = 254, 7, 255
    report = check_parity(model, image_path, text_path, torch.randn(5, 3, 64, 64), tokens, 1e-4)
    assert report.passed, report
