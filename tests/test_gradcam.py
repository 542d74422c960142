"""Grad-CAM of the classifier: range and shape, and the model-randomisation sanity check."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dermview.model.classifier import LesionEncoder, LesionHead, LiteClassifier  # noqa: E402
from dermview.model.gradcam import (  # noqa: E402
    grad_cam,
    randomisation_check,
    randomise_last_layers,
    rank_correlation,
)


@pytest.fixture(scope="module")
def model() -> LiteClassifier:
    torch.manual_seed(0)
    enc = LesionEncoder(pretrained=True)
    head = LesionHead(enc.n_features)
    torch.nn.init.normal_(head.fc.weight, std=0.05)
    return LiteClassifier(enc, head).eval()


def _image(size: int = 96) -> torch.Tensor:
    ys, xs = np.mgrid[:size, :size]
    disc = ((ys - 40) ** 2 + (xs - 55) ** 2) < 18 ** 2
    x = np.where(disc, -1.5, 1.0)[None].repeat(3, 0)
    x = x + 0.2 * np.random.default_rng(0).standard_normal(x.shape)
    return torch.tensor(x[None], dtype=torch.float32)


def test_rank_correlation_known_values():
    a = np.arange(16.0).reshape(4, 4)
    assert rank_correlation(a, a * 3 + 1) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    assert rank_correlation(a, np.ones_like(a)) == 0.0


def test_grad_cam_shape_range_and_target(model):
    x = _image()
    cam, cls = grad_cam(model, x)
    assert cam.shape == (96, 96) and cam.dtype == np.float32
    assert cam.min() >= 0.0 and cam.max() == pytest.approx(1.0)
    with torch.no_grad():
        assert cls == int(model(x).argmax())
    other = (cls + 1) % 3
    cam_other, cls_other = grad_cam(model, x, other)
    assert cls_other == other and not np.allclose(cam, cam_other)
    assert not model.training


def test_randomising_the_last_layers_changes_the_map(model):
    x = _image()
    rand = randomise_last_layers(model, n_blocks=2, seed=0)
    assert not torch.equal(rand.head.fc.weight, model.head.fc.weight)
    assert torch.equal(rand.encoder.conv_stem.weight, model.encoder.conv_stem.weight)
    # the check itself: a trained-vs-randomised correlation well below that of a map with itself
    assert randomisation_check(model, x) < 0.5
    cam, cls = grad_cam(model, x)
    cam_same, _ = grad_cam(model, x, cls)
    assert rank_correlation(cam, cam_same) == pytest.approx(1.0)
