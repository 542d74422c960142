"""Grad-CAM of the classifier: range and shape, and the model-randomisation sanity check."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dermview.model.classifier import (  # noqa: E402
    DEFAULT_CLASSIFIER,
    LesionEncoder,
    LesionHead,
    LiteClassifier,
)
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


def test_randomisation_copies_and_reinitialises_only_the_last_layers(model):
    rand = randomise_last_layers(model, n_blocks=2, seed=0)
    assert not torch.equal(rand.head.fc.weight, model.head.fc.weight)
    assert not torch.equal(rand.encoder.blocks[-1]._project_conv.weight,
                           model.encoder.blocks[-1]._project_conv.weight)
    assert torch.equal(rand.encoder.blocks[-3]._project_conv.weight,
                       model.encoder.blocks[-3]._project_conv.weight)
    assert torch.equal(rand.encoder.conv_stem.weight, model.encoder.conv_stem.weight)


@pytest.mark.skipif(not DEFAULT_CLASSIFIER.is_file(), reason="bundled classifier not built")
def test_heat_map_of_the_bundled_model_depends_on_its_weights(samples_dir):
    """Adebayo et al.'s check on the shipped model: after re-initialising the linear layer and
    the last two blocks, the map of the same class is unrelated to the trained one, while the
    trained model's map is reproducible (correlation 1 with itself)."""
    from dermview.io import load_image, load_mask
    from dermview.model.classifier import Classifier

    clf = Classifier.load(None, device="cpu")
    corr = []
    for stem in ("IMD002", "IMD009", "ISIC_0000095", "ISIC_0024311"):
        rgb = load_image(samples_dir / f"{stem}.jpg")
        mask = load_mask(samples_dir / f"{stem}_segmentation.png", shape=rgb.shape[:2])
        x = torch.from_numpy(clf.inputs(rgb, mask, flip=False)[0])  # lesion (+ whole) crop
        corr.append(randomisation_check(clf.model, x, n_blocks=2))
        cam, cls = grad_cam(clf.model, x)
        assert rank_correlation(cam, grad_cam(clf.model, x, cls)[0]) == pytest.approx(1.0)
    assert np.mean(corr) < 0.3 and max(corr) < 0.7, corr
