"""Classifier levers: pooling statistics of the encoder, the lever features' column map, the
logistic-regression head and the cross-validation plumbing (synthetic data)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dermview.model.classifier_net import LesionEncoder, pool_maps  # noqa: E402
from training.classifier_levers import (  # noqa: E402
    PARTS,
    TapEncoder,
    cv_logits,
    fit_logreg,
    select,
    views,
    whole_crop,
)


def test_pool_maps_orders_statistic_by_statistic():
    a = torch.arange(8.0).reshape(1, 2, 2, 2)
    b = torch.ones(1, 1, 1, 2) * 5
    z = pool_maps([a, b], ("mean", "max"))
    assert z.tolist() == [[1.5, 5.5, 5.0, 3.0, 7.0, 5.0]]
    with pytest.raises(ValueError):
        LesionEncoder(pretrained=False, stats=("median",))


def test_lever_columns_are_the_shipped_encoders_features():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    taps = TapEncoder().eval()
    with torch.no_grad():
        z = taps(x).numpy()
        for parts, kw in (("ship", {}),
                          ("ship+max", {"stats": ("mean", "std", "max")}),
                          ("all", {"taps": (4, 7, 10, 14, 15), "head": True,
                                   "stats": ("mean", "std", "max")})):
            enc = LesionEncoder(pretrained=True, **kw).eval()
            ref = enc(x).numpy()
            assert ref.shape[1] == enc.n_features
            np.testing.assert_allclose(select(z, PARTS[parts]), ref, rtol=1e-4, atol=1e-5)


def test_views_and_whole_crop():
    img = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    vs = views(img[:20, :20])
    assert len(vs) == 4 and all(v.shape == (20, 20, 3) for v in vs)
    assert np.array_equal(vs[1], img[:20, :20][:, ::-1])
    assert whole_crop(img, 16).shape == (16, 16, 3)


def test_logreg_separates_and_cv_scores_held_out_images():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], 40)
    centres = rng.normal(0, 3, (3, 5))
    z = (centres[y][:, None, :] + rng.normal(0, 1, (120, 4, 5))).astype(np.float32)
    w, b = fit_logreg(z[:, 0], y, 1e-3)
    assert ((z[:, 0] @ w + b).argmax(1) == y).mean() > 0.9
    lg = cv_logits(z, y, 1e-3, 3, 0, "all", "flip")
    assert lg.shape == (120, 3) and (lg.argmax(1) == y).mean() > 0.85
    # labels unrelated to the features: held-out accuracy must fall to chance
    shuffled = rng.permutation(y)
    lg = cv_logits(z, shuffled, 1e-3, 3, 0, "first", "first")
    assert (lg.argmax(1) == shuffled).mean() < 0.6


def test_two_crop_classifier_stacks_crops_on_channels():
    from dermview.model.classifier_net import LesionHead, LiteClassifier
    from dermview.model.gradcam import grad_cam

    enc = LesionEncoder(pretrained=True).eval()
    model = LiteClassifier(enc, LesionHead(2 * enc.n_features), n_crops=2).eval()
    torch.manual_seed(0)
    torch.nn.init.normal_(model.head.fc.weight, std=0.05)
    a, b = torch.randn(1, 3, 64, 64), torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out = model(torch.cat([a, b], dim=1))
        ref = model.head(torch.cat([enc(a), enc(b)], dim=1))
        swapped = model(torch.cat([b, a], dim=1))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(out, swapped)  # the head tells the two crops apart
    cam, cls = grad_cam(model, torch.cat([a, b], dim=1))
    assert cam.shape == (64, 64) and 0 <= cls < 3


def test_lever_taps_are_the_same_stages_in_every_lite_encoder():
    from training.classifier_levers import LEVER_TAPS, lever_taps, tap_slices

    assert lever_taps("lite0") == LEVER_TAPS
    assert lever_taps("lite1") == (6, 10, 14, 19, 20)
    assert lever_taps("lite2") == (6, 10, 14, 19, 20)
    sl = tap_slices("lite2")  # Lite2's stages are wider: 48, 88, 120, 208, 352 channels
    assert sl["4_mean"].stop - sl["4_mean"].start == 48
    assert sl["15_max"].stop - sl["15_max"].start == 352
    assert sl["head_max"].stop == 3 * (48 + 88 + 120 + 208 + 352 + 1280)


def test_lite1_tap_encoder_features_fit_the_column_map():
    from training.classifier_levers import tap_slices

    enc = TapEncoder("lite1").eval()
    with torch.no_grad():
        z = enc(torch.randn(1, 3, 64, 64)).numpy()
    assert z.shape[1] == max(s.stop for s in tap_slices("lite1").values())
    assert select(z, PARTS["ship"], "lite1").shape == (1, 2 * (80 + 112 + 192 + 320))


def test_logreg_without_class_weights_and_warm_start():
    rng = np.random.default_rng(2)
    y = np.r_[np.zeros(90, np.int64), np.ones(15, np.int64), np.full(15, 2)]
    x = rng.normal(0, 1, (120, 4)) + np.eye(3, 4)[y] * 0.8
    wb, bb = fit_logreg(x, y, 1e-2)
    wn, bn = fit_logreg(x, y, 1e-2, balance=False)
    # the weighted loss favours the rare classes: more of them predicted
    assert ((x @ wb + bb).argmax(1) > 0).sum() > ((x @ wn + bn).argmax(1) > 0).sum()
    w2, b2 = fit_logreg(x, y, 1e-2, init=(wb, bb))  # already at the optimum: stays there
    np.testing.assert_allclose(w2, wb, atol=1e-3)


def test_more_levers_views_pca_and_held_out_scores():
    from training.classifier_levers_more import member_logits, pca_basis, with_views

    z1 = np.arange(6, dtype=np.float32).reshape(2, 1, 3)
    assert with_views(z1, 4).shape == (2, 4, 3) and np.all(with_views(z1, 4)[:, 3] == z1[:, 0])
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (500, 6)) * np.array([5, 3, 1, 0.1, 0.1, 0.1])
    x -= x.mean(0)
    p = x @ pca_basis(x, 2)
    np.testing.assert_allclose(np.cov(p.T, bias=True), np.eye(2), atol=1e-6)
    y = np.repeat([0, 1, 2], 40)
    centres = rng.normal(0, 3, (3, 5))
    z = (centres[y][:, None, :] + rng.normal(0, 1, (120, 4, 5))).astype(np.float32)
    cues = rng.normal(0, 1, (120, 1, 2)).astype(np.float32)
    fold = np.arange(120) % 3
    out = member_logits([z, cues], ["l0_lesion", "cues"], y, (0.01, 0.1), fold,
                        {"pca": 4, "cue_gain": 2.0})
    assert set(out) == {0.01, 0.1}
    assert (out[0.01].argmax(1) == y).mean() > 0.85
    shuffled = rng.permutation(y)  # unrelated labels: chance on held-out images
    out = member_logits([z], ["l0_lesion"], shuffled, (0.01,), fold, {})
    assert (out[0.01].argmax(1) == shuffled).mean() < 0.6
