import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from components.training.loss import clip_loss, siglip_loss

WORLD, LOCAL, DIM = 2, 4, 8


def _features(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    images = F.normalize(torch.randn(WORLD * LOCAL, DIM, generator=gen), dim=-1)
    texts = F.normalize(torch.randn(WORLD * LOCAL, DIM, generator=gen), dim=-1)
    return images, texts, torch.tensor(10.0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


LOSSES = {
    "clip": clip_loss,
    "siglip": lambda i, t, s: siglip_loss(i, t, s, torch.tensor(-10.0)),
}


def _worker(rank: int, port: int, out_dir: str, loss_name: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD
    )
    images, texts, scale = _features()
    rows = slice(rank * LOCAL, (rank + 1) * LOCAL)
    local_images = images[rows].clone().requires_grad_(True)
    local_texts = texts[rows].clone().requires_grad_(True)
    loss = LOSSES[loss_name](local_images, local_texts, scale)
    loss.backward()
    mean_loss = loss.detach().clone()
    dist.all_reduce(mean_loss)
    # DDP averages gradients over ranks: the effective gradient is this one divided by WORLD.
    torch.save(
        {
            "loss": mean_loss / WORLD,
            "gi": local_images.grad / WORLD,
            "gt": local_texts.grad / WORLD,
        },
        f"{out_dir}/rank{rank}.pt",
    )
    dist.destroy_process_group()


def test_single_process_loss_is_symmetric_cross_entropy():
    images, texts, scale = _features()
    logits = scale * images @ texts.T
    labels = torch.arange(len(images))
    want = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    torch.testing.assert_close(clip_loss(images, texts, scale), want)


def test_siglip_single_process_is_the_mean_pairwise_logistic_loss():
    images, texts, scale = _features()
    bias = torch.tensor(-2.0)
    logits = scale * images @ texts.T + bias
    labels = 2 * torch.eye(len(images)) - 1
    want = -F.logsigmoid(labels * logits).sum() / len(images)
    torch.testing.assert_close(siglip_loss(images, texts, scale, bias), want)


def test_perfect_alignment_gives_a_low_loss():
    images = torch.eye(8)
    assert clip_loss(images, images.clone(), torch.tensor(100.0)) < 1e-3


@pytest.mark.timeout(120)
@pytest.mark.parametrize("loss_name", ["clip", "siglip"])
def test_two_gloo_workers_equal_one_process_on_the_concatenated_batch(tmp_path, loss_name):
    images, texts, scale = _features()
    images.requires_grad_(True)
    texts.requires_grad_(True)
    want = LOSSES[loss_name](images, texts, scale)
    want.backward()

    mp.spawn(_worker, args=(_free_port(), str(tmp_path), loss_name), nprocs=WORLD, join=True)
    for rank in range(WORLD):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        rows = slice(rank * LOCAL, (rank + 1) * LOCAL)
        torch.testing.assert_close(got["loss"], want.detach(), atol=1e-6, rtol=0)
        torch.testing.assert_close(got["gi"], images.grad[rows], atol=1e-6, rtol=0)
        torch.testing.assert_close(got["gt"], texts.grad[rows], atol=1e-6, rtol=0)


def test_siglip_option_adds_a_learned_bias_only_when_asked():
    from components.model.clip import create_model
    from components.settings import load_settings
    from components.training.loss import contrastive_loss
    from components.training.stage import model_config

    assert "logit_bias" not in create_model("clip-tiny").state_dict()  # CLIP: OpenAI's keys
    settings = load_settings("tiny", overrides={"train": {"loss": "siglip"}})
    model = create_model(model_config(settings.model, settings.train.loss))
    assert model.logit_bias.item() == -10.0 and abs(model.logit_scale.exp().item() - 10.0) < 1e-4

    tokens = torch.randint(1, 4094, (4, 32))
    tokens[:, 5] = 4095
    loss = contrastive_loss("siglip", model)(*model(torch.randn(4, 3, 32, 32), tokens))
    loss.backward()
    assert model.logit_bias.grad is not None and model.logit_scale.grad is not None
    with pytest.raises(ValueError, match="logit_bias"):
        contrastive_loss("siglip", create_model("clip-tiny"))
