"""Overfitting a handful of synthetic images, and weight round-trips for every architecture."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dermview.model.losses import weighted_dice_loss  # noqa: E402
from dermview.model.nets import build_model  # noqa: E402
from dermview.model.weights import load_model, save_weights  # noqa: E402

pytestmark = pytest.mark.usefixtures("two_torch_threads")


def synthetic_batch(n: int = 8, size: int = 64, seed: int = 0):
    """Dark discs on light noisy skin; returns (images (n,3,S,S), masks (n,1,S,S))."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[:size, :size]
    imgs, masks = [], []
    for _ in range(n):
        cy, cx = rng.uniform(0.3, 0.7, 2) * size
        r = rng.uniform(0.12, 0.25) * size
        m = ((ys - cy) ** 2 + (xs - cx) ** 2 < r * r).astype(np.float32)
        grey = 0.8 - 0.4 * m + 0.05 * rng.standard_normal((size, size))
        imgs.append(np.stack([grey, grey * 0.9, grey * 0.8]).astype(np.float32))
        masks.append(m[None])
    return torch.tensor(np.stack(imgs)), torch.tensor(np.stack(masks))


def dice(prob: np.ndarray, gt: np.ndarray) -> float:
    p = prob >= 0.5
    g = gt > 0.5
    return 2 * np.logical_and(p, g).sum() / (p.sum() + g.sum())


def test_overfits_synthetic_images_to_high_dice():
    torch.manual_seed(0)
    x, y = synthetic_batch()
    model = build_model("dermsegnet", width=8)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        model.train()
        loss = weighted_dice_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        prob = torch.sigmoid(model(x)).numpy()
    scores = [dice(prob[i, 0], y[i, 0].numpy()) for i in range(len(x))]
    assert min(scores) > 0.9, scores


ARCHS = [
    ("dermsegnet", {"width": 8, "aspp_rates": [3, 6, 9]}),
    ("litesegnet", {"pretrained": False, "aspp_rates": [3, 3, 6]}),
    ("unet", {"base": 4}),
]


@pytest.mark.parametrize(("arch", "config"), ARCHS)
def test_weights_round_trip(tmp_path, arch, config):
    import training.unet  # noqa: F401  (registers "unet")

    torch.manual_seed(1)
    model = build_model(arch, **config).eval()
    with torch.no_grad():  # move BN statistics away from their defaults
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    meta = {"arch": arch, "config": config, "input_size": 64, "mean": [0.5] * 3,
            "std": [0.25] * 3, "name": f"test-{arch}", "threshold": 0.5, "preprocess": False,
            "resize": "stretch"}
    saved = save_weights(model, tmp_path / "w.pt", meta)
    loaded, meta2 = load_model(tmp_path / "w.pt")
    assert meta2["sha256"] == saved["sha256"] and meta2["config"] == config
    x = torch.randn(1, 3, 48, 40)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    # a flipped byte is refused before the file is parsed
    data = bytearray((tmp_path / "w.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "w.pt").write_bytes(bytes(data))
    from dermview.errors import WeightsError

    with pytest.raises(WeightsError, match="SHA-256"):
        load_model(tmp_path / "w.pt")
