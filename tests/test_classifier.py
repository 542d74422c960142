"""Lesion classifier: network shapes, a training step, overfitting synthetic lesions, the crop
geometry, weights round-trip and refusal, and the bundled model's probabilities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _lesions import synthetic_lesions  # noqa: E402

from dermview.errors import MaskError, WeightsError  # noqa: E402
from dermview.io import load_image, load_mask  # noqa: E402
from dermview.model import weights as wmod  # noqa: E402
from dermview.model.classifier import (  # noqa: E402
    CLASSES,
    DEFAULT_CLASSIFIER,
    PROB_KEYS,
    Classifier,
    LesionEncoder,
    LesionHead,
    LiteClassifier,
    crop_box,
    lesion_box,
    lesion_crop,
    normalise,
    probability_columns,
)
from dermview.model.nets import efficientnet_lite0_weights_path  # noqa: E402

pytestmark = pytest.mark.usefixtures("two_torch_threads")


@pytest.fixture(scope="module")
def encoder() -> LesionEncoder:
    return LesionEncoder(pretrained=True).eval()


def test_shapes(encoder):
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        z = encoder(x)
        head = LesionHead(encoder.n_features)
        logits = LiteClassifier(encoder, head)(x)
        feat = LiteClassifier(encoder, head).features(x)
    assert z.shape == (2, encoder.n_features) and encoder.n_features == 2 * (80 + 112 + 192 + 320)
    assert len(encoder.blocks) == 16 and encoder.conv_head is None  # nothing after the last tap
    assert logits.shape == (2, len(CLASSES))
    assert feat.shape == (2, 80, 4, 4)  # stride 16


def test_forward_backward_step_trains_only_the_head(encoder):
    model = LiteClassifier(encoder, LesionHead(encoder.n_features))
    for p in model.encoder.parameters():
        p.requires_grad_(False)
    opt = torch.optim.SGD(model.head.parameters(), lr=0.01)
    x, y = torch.randn(4, 3, 64, 64), torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        z = encoder(x)
        model.head.shift.copy_(z.mean(0))
        model.head.scale.copy_(1.0 / (z.std(0) + 1e-3))
    before = model.encoder.conv_stem.weight.clone()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    assert model.head.fc.weight.grad is not None and model.head.fc.weight.grad.abs().sum() > 0
    opt.step()
    assert torch.equal(model.encoder.conv_stem.weight, before)
    with torch.no_grad():
        assert float(torch.nn.functional.cross_entropy(model(x), y)) < float(loss)


def test_overfits_synthetic_lesions(encoder):
    from training.classifier_fit import fit_head

    imgs, masks, labels = synthetic_lesions()
    crops = np.stack([lesion_crop(i, m, 64)[0] for i, m in zip(imgs, masks, strict=True)])
    with torch.no_grad():
        z = encoder(normalise(crops, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))).numpy()
    cfg = {"balance": "none", "l2": 0.0, "lr": 0.05, "epochs": 60, "batch_size": 9,
           "patience": 60, "seed": 0}
    head, rows = fit_head(z[:, None], labels, z, labels, cfg)
    with torch.no_grad():
        pred = head(torch.from_numpy(z)).argmax(1).numpy()
    assert (pred == labels).all(), pred
    assert rows[-1]["train_loss"] < 0.1 * rows[0]["train_loss"]


def test_lesion_box_and_crop_geometry():
    mask = np.zeros((100, 200), bool)
    mask[20:40, 50:90] = True  # 20 rows × 40 cols
    cy, cx, side = lesion_box(mask, margin=0.25, min_side=0.0)
    assert (cy, cx, side) == (30.0, 70.0, 60.0)
    assert lesion_box(mask, margin=0.0, min_side=0.5)[2] == 100.0  # half the longer side
    rgb = np.zeros((100, 200, 3), np.uint8)
    rgb[:, 100:] = 255  # right half white
    crop = crop_box(rgb, (50.0, 100.0, 40.0), 40)
    assert crop.shape == (40, 40, 3)
    assert crop[:, :20].max() == 0 and crop[:, 20:].min() == 255
    # a box that leaves the image is reflect-padded, not black
    edge = crop_box(rgb, (50.0, 195.0, 20.0), 20)
    assert edge.min() == 255
    with pytest.raises(MaskError):
        lesion_box(np.zeros((10, 10), bool))
    with pytest.raises(MaskError):
        lesion_crop(rgb, mask[:50], 32)


def test_paste_box_puts_the_map_back_where_the_crop_came_from():
    from dermview.model.gradcam import paste_box

    cam = np.ones((32, 32), np.float32)
    out = paste_box(cam, (30.0, 70.0, 40.0), (100, 200))
    rows, cols = np.nonzero(out > 0.5)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (10, 49, 50, 89)
    assert out.dtype == np.float32 and out.max() <= 1.0


def test_fade_edges_takes_the_crop_edge_to_zero_and_keeps_the_centre():
    from dermview.model.gradcam import fade_edges

    out = fade_edges(np.ones((40, 40), np.float32), fraction=0.125)  # 5-pixel ramp
    assert out.dtype == np.float32 and out.shape == (40, 40)
    assert out[0].max() < 0.03 and out[:, 0].max() < 0.03 and out[-1, -1] < 0.001
    assert np.all(out[5:35, 5:35] == 1.0)
    assert np.all(np.diff(out[20, :20]) >= 0) and np.all(np.diff(out[20, 20:]) <= 0)


def _save_head(tmp_path: Path, encoder: LesionEncoder, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    head = LesionHead(encoder.n_features)
    torch.nn.init.normal_(head.fc.weight, std=0.05)
    path = tmp_path / "clf.pt"
    wmod.save_weights(head, path, {
        "arch": "lesionhead", "config": {"n_features": encoder.n_features},
        "input_size": 64, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
        "classes": list(CLASSES), "temperature": 2.0, "tta": "none",
        "encoder": {"taps": list(encoder.taps),
                    "sha256": wmod.sha256_file(efficientnet_lite0_weights_path())}})
    return path


def test_weights_round_trip_gives_the_same_probabilities(tmp_path, encoder, samples_dir):
    path = _save_head(tmp_path, encoder)
    clf = Classifier.load(path, device="cpu")
    assert Classifier.load(path, device="cpu") is clf  # loaded once
    rgb = load_image(samples_dir / "IMD002.jpg")
    mask = load_mask(samples_dir / "IMD002_segmentation.png", shape=rgb.shape[:2])
    probs = clf.predict(rgb, mask)
    assert tuple(probs) == PROB_KEYS and abs(sum(probs.values()) - 1) < 1e-9
    crop, _ = lesion_crop(rgb, mask, 64)
    state = torch.load(path, weights_only=True)
    head = LesionHead(encoder.n_features)
    head.load_state_dict(state)
    with torch.no_grad():
        logits = LiteClassifier(encoder, head.eval())(
            normalise(crop[None], clf.meta["mean"], clf.meta["std"]))[0].double().numpy()
    expected = np.exp(logits / 2.0) / np.exp(logits / 2.0).sum()
    np.testing.assert_allclose([probs[k] for k in PROB_KEYS], expected, atol=1e-5)


def test_tampered_weights_and_foreign_encoder_are_refused(tmp_path, encoder):
    path = _save_head(tmp_path, encoder)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="SHA-256"):
        Classifier.load(path, device="cpu")
    (tmp_path / "b").mkdir()
    other = _save_head(tmp_path / "b", encoder)
    meta_file = other.with_suffix(".json")
    meta = json.loads(meta_file.read_text())
    meta["encoder"]["sha256"] = "0" * 64
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="encoder"):
        Classifier.load(other, device="cpu")


@pytest.mark.skipif(not DEFAULT_CLASSIFIER.is_file(), reason="bundled classifier not built")
def test_bundled_classifier_on_the_samples(samples_dir):
    clf = Classifier.load(None, device="cpu")
    assert clf.meta["sha256"] == wmod.sha256_file(DEFAULT_CLASSIFIER)
    for stem in ("IMD002", "ISIC_0000095"):
        rgb = load_image(samples_dir / f"{stem}.jpg")
        mask = load_mask(samples_dir / f"{stem}_segmentation.png", shape=rgb.shape[:2])
        probs = probability_columns(rgb, mask, device="cpu")
        assert tuple(probs) == PROB_KEYS
        assert all(0.0 <= v <= 1.0 for v in probs.values()) and abs(sum(probs.values()) - 1) < 1e-9
        heat, cls = clf.heatmap(rgb, mask)
        assert heat.shape == mask.shape and heat.dtype == np.float32 and cls in CLASSES
        assert heat.min() >= 0.0 and heat.max() == pytest.approx(1.0, abs=0.02)
    empty = probability_columns(rgb, np.zeros(mask.shape, bool))
    assert all(np.isnan(v) for v in empty.values())


@pytest.mark.skipif(not DEFAULT_CLASSIFIER.is_file(), reason="bundled classifier not built")
def test_bundled_predict_runs_on_onnx_runtime_without_torch(samples_dir):
    """The packaged app has no PyTorch: predict must run through the engine layer alone."""
    import subprocess
    import sys

    pytest.importorskip("onnxruntime")
    code = (
        "import sys\n"
        "from dermview.io import load_image, load_mask\n"
        "from dermview.model.classifier import Classifier\n"
        f"rgb = load_image({str(samples_dir / 'IMD002.jpg')!r})\n"
        f"m = load_mask({str(samples_dir / 'IMD002_segmentation.png')!r}, shape=rgb.shape[:2])\n"
        "c = Classifier.load(None, device='cpu')\n"
        "p = c.predict(rgb, m)\n"
        "print(type(c.onnx).__name__, 'torch' in sys.modules, round(sum(p.values()), 6))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["OnnxEngine", "False", "1.0"]
    torch_probs = Classifier.load(None, device="cpu", engine="torch").predict(
        load_image(samples_dir / "IMD002.jpg"),
        load_mask(samples_dir / "IMD002_segmentation.png", shape=(383, 512)))
    onnx_probs = Classifier.load(None, device="cpu").predict(
        load_image(samples_dir / "IMD002.jpg"),
        load_mask(samples_dir / "IMD002_segmentation.png", shape=(383, 512)))
    assert onnx_probs == pytest.approx(torch_probs, abs=1e-4)


def test_fine_tuning_split_matches_the_whole_network(encoder):
    """The cached split (frozen descriptors + block-10 maps → tuned blocks → head) computes
    exactly what the assembled classifier computes from the image, before and after a
    training step, and the step moves only the tuned blocks and the linear layer."""
    from training.classifier_tune import TunedNet, tuned_head

    torch.manual_seed(0)
    x = torch.randn(3, 3, 64, 64)
    probe = LesionHead(encoder.n_features)
    torch.nn.init.normal_(probe.fc.weight, std=0.05)
    with torch.no_grad():
        z, m = encoder.split_forward(x, 11)
        torch.testing.assert_close(z, encoder(x))
    head = tuned_head(encoder, probe, 11)
    net = TunedNet(encoder, head).eval()
    whole = LiteClassifier(LesionEncoder(pretrained=True), head).eval()
    with torch.no_grad():
        torch.testing.assert_close(net(m, z), whole(x), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(net(m, z), LiteClassifier(encoder, probe)(x), atol=1e-4,
                                   rtol=1e-4)  # ImageNet blocks + the probe's layer at start
    frozen_bn = head.blocks[0]._bn0.running_mean.clone()
    net.train()
    opt = torch.optim.SGD(head.parameters(), lr=0.05)
    loss = torch.nn.functional.cross_entropy(net(m, z, 0.0), torch.tensor([0, 1, 2]))
    loss.backward()
    opt.step()
    assert torch.equal(head.blocks[0]._bn0.running_mean, frozen_bn)  # statistics frozen
    assert not torch.equal(head.blocks[-1]._project_conv.weight,
                           encoder.blocks[15]._project_conv.weight)
    with torch.no_grad():
        torch.testing.assert_close(net.eval()(m, z), whole(x), atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="do not fit"):
        LiteClassifier(LesionEncoder(pretrained=True), LesionHead(encoder.n_features,
                                                                  tuned_from=5))


def test_shown_probabilities_round_to_a_sum_of_one():
    from dermview.model.classifier import shown_probabilities

    assert shown_probabilities({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}) == {"a": "0.34", "b": "0.33", "c": "0.33"}
    assert shown_probabilities({"a": 0.666, "b": 0.334}) == {"a": "0.67", "b": "0.33"}
    assert shown_probabilities({"a": 0.126, "b": 0.874}, digits=1) == {"a": "0.1", "b": "0.9"}
    # the largest remainders take the missing hundredths: 0.004 rounds up before 0.003
    assert shown_probabilities({"a": 0.254, "b": 0.253, "c": 0.493}) == {"a": "0.26", "b": "0.25", "c": "0.49"}
    # not a distribution: each value rounded on its own
    assert shown_probabilities({"a": 0.2, "b": 0.2}) == {"a": "0.20", "b": "0.20"}
