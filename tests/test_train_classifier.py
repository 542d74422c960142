"""End-to-end classifier training on a tiny synthetic data folder: outputs, metadata, a loadable
weights file, and an ONNX export that ONNX Runtime runs to the same logits."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _lesions import synthetic_lesions  # noqa: E402

from dermview.model.classifier import PROB_KEYS, Classifier  # noqa: E402
from dermview.model.weights import sha256_file  # noqa: E402
from training.train_classifier import main  # noqa: E402

DIAGNOSES = ("melanoma", "seborrheic_keratosis", "nevus")


def make_data(root, n_per_class: int = 4, size: int = 72):
    imgs, masks, labels = synthetic_lesions(n_per_class, size, seed=3)
    (root / "src" / "images").mkdir(parents=True)
    (root / "src" / "masks").mkdir()
    rows, diag = [], []
    for k, (img, m, y) in enumerate(zip(imgs, masks, labels, strict=True)):
        stem = f"syn{k:02d}"
        cv2.imwrite(str(root / "src" / "images" / f"{stem}.png"), img[..., ::-1])
        cv2.imwrite(str(root / "src" / "masks" / f"{stem}_segmentation.png"), m.astype(np.uint8) * 255)
        rows.append(("src", stem, f"src/images/{stem}.png", f"src/masks/{stem}_segmentation.png"))
        diag.append((stem, "src", DIAGNOSES[y], "synthetic"))
    with open(root / "manifest.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("source", "id", "image", "mask"), *rows])
    with open(root / "diagnosis.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("id", "source", "diagnosis", "label_source"), *diag])


def test_train_classifier_end_to_end(tmp_path):
    make_data(tmp_path)
    out = tmp_path / "run"
    weights = tmp_path / "models" / "clf.pt"
    rc = main(["--data", str(tmp_path), "--labels", str(tmp_path / "diagnosis.csv"),
               "--out", str(out), "--size", "64", "--views", "2", "--epochs", "4",
               "--val-fraction", "0.34", "--cv-folds", "2", "--l2", "1e-3", "--threads", "2",
               "--cache-dir", str(tmp_path / "cache"), "--save-weights", str(weights), "--quiet"])
    assert rc == 0
    for name in ("log.csv", "log.json", "curve.png", "cv.json", "best.pt", "best.json",
                 "best.onnx", "summary.json", "val_logits.npz"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cv"]["best"]["balance"] in ("loss", "sampler")
    assert {r["balance"] for r in summary["cv"]["results"]} == {"loss", "sampler"}
    cal = summary["calibration"]
    assert cal["temperature"] > 0 and 0 <= cal["ece_after"] <= 1
    meta = json.loads(weights.with_suffix(".json").read_text())
    assert meta["onnx"]["sha256"] == sha256_file(weights.with_suffix(".onnx"))
    assert meta["onnx"]["input_shape"] == ["batch", 3, 64, 64]
    cache = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert sum(n.startswith("desc_train") for n in cache) == 2  # one file per view
    assert sum(n.startswith("desc_val") for n in cache) == 2  # crop and mirror image

    clf = Classifier.load(weights, device="cpu")
    img = cv2.imread(str(tmp_path / "src" / "images" / "syn00.png"))[..., ::-1].copy()
    mask = cv2.imread(str(tmp_path / "src" / "masks" / "syn00_segmentation.png"), 0) > 0
    probs = clf.predict(img, mask)
    assert tuple(probs) == PROB_KEYS
    ort = pytest.importorskip("onnxruntime")
    from dermview.model.classifier import normalise

    x = normalise(clf.crop(img, mask)[0][None], clf.meta["mean"], clf.meta["std"])
    sess = ort.InferenceSession(str(weights.with_suffix(".onnx")), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = clf.model(x).numpy()
    np.testing.assert_allclose(sess.run(None, {"input": x.numpy()})[0], ref, atol=1e-3)


def test_train_classifier_fine_tuned_end_to_end(tmp_path):
    """--tune: cached first-tap maps, the blocks after the first tap fine-tuned and shipped in
    the .pt, TTA chosen on the inner split; the weights load, change the encoder, and the ONNX
    export gives the same logits."""
    make_data(tmp_path, n_per_class=6)
    out = tmp_path / "run"
    weights = tmp_path / "models" / "clf.pt"
    rc = main(["--data", str(tmp_path), "--labels", str(tmp_path / "diagnosis.csv"),
               "--out", str(out), "--size", "64", "--views", "3", "--epochs", "3", "--tune",
               "--tune-epochs", "2", "--tune-batch-size", "4", "--val-fraction", "0.34",
               "--inner-fraction", "0.34", "--balance", "loss", "--l2", "1e-3", "--tta", "auto",
               "--threads", "2", "--cache-dir", str(tmp_path / "cache"),
               "--save-weights", str(weights), "--quiet"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tta_choice"]["best"] in ("none", "hflip")
    assert summary["fit_images"] + summary["inner_val_images"] == summary["train_images"]
    rows = json.loads((out / "log.json").read_text())
    assert 1 <= len(rows) <= 2 and "val_auc_mean" in rows[0]
    cache = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert sum(n.startswith("cut11_train") for n in cache) == 3
    meta = json.loads(weights.with_suffix(".json").read_text())
    assert meta["config"]["tuned_from"] == 11 and meta["config"]["n_blocks"] == 16
    assert meta["tta"] == summary["tta_choice"]["best"]

    from dermview.model.classifier import LesionEncoder

    clf = Classifier.load(weights, device="cpu", engine="torch")
    stock = LesionEncoder(pretrained=True)
    tuned = clf.model.encoder.blocks[11].state_dict()
    assert any(not torch.equal(v, stock.blocks[11].state_dict()[k]) for k, v in tuned.items()
               if v.is_floating_point())  # the shipped blocks are the fine-tuned ones
    assert all(torch.equal(v, stock.blocks[10].state_dict()[k])
               for k, v in clf.model.encoder.blocks[10].state_dict().items())  # frozen part
    img = cv2.imread(str(tmp_path / "src" / "images" / "syn00.png"))[..., ::-1].copy()
    mask = cv2.imread(str(tmp_path / "src" / "masks" / "syn00_segmentation.png"), 0) > 0
    ort = pytest.importorskip("onnxruntime")
    from dermview.model.classifier import normalise

    x = normalise(clf.crop(img, mask)[0][None], clf.meta["mean"], clf.meta["std"])
    sess = ort.InferenceSession(str(weights.with_suffix(".onnx")), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = clf.model(x).numpy()
    np.testing.assert_allclose(sess.run(None, {"input": x.numpy()})[0], ref, atol=1e-3)
    assert Classifier.load(weights, device="cpu").predict(img, mask) == pytest.approx(
        clf.predict(img, mask), abs=1e-4)
