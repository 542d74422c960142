"""``dermview evaluate``: pairing by name, known scores, CSV/JSON output, problems reported."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dermview.cli import main
from dermview.commands.evaluate import index_masks
from dermview.io import load_mask, save_mask
from dermview.metrics import METRIC_NAMES, evaluate_masks

SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "samples"
STEMS = ["IMD002", "IMD009", "ISIC_0000095", "ISIC_0024311"]


def gt(stem: str) -> np.ndarray:
    return load_mask(SAMPLES / f"{stem}_segmentation.png")


@pytest.fixture
def preds(tmp_path) -> Path:
    """Predictions: IMD002 perfect, IMD009 eroded by shifting, ISIC_* empty / full."""
    d = tmp_path / "pred"
    d.mkdir()
    save_mask(d / "IMD002_segmentation.png", gt("IMD002"))
    shifted = np.roll(gt("IMD009"), 20, axis=1)
    save_mask(d / "IMD009_segmentation.png", shifted)
    save_mask(d / "ISIC_0000095.png", np.zeros_like(gt("ISIC_0000095")))  # plain <stem>.png
    save_mask(d / "ISIC_0024311_segmentation.png", np.ones_like(gt("ISIC_0024311")))
    save_mask(d / "ISIC_0024311_prob.png", np.ones_like(gt("ISIC_0024311")))  # ignored
    return d


def test_index_masks_rules(preds):
    idx = index_masks(preds, "prediction")
    # a folder with *_segmentation files is read as a label folder: only those count
    assert sorted(idx) == ["IMD002", "IMD009", "ISIC_0024311"]
    gts = index_masks(SAMPLES, "ground truth")
    assert sorted(gts) == STEMS  # the .jpg images beside them are ignored
    (preds / "IMD002_segmentation.png").unlink()
    (preds / "IMD009_segmentation.png").unlink()
    (preds / "ISIC_0024311_segmentation.png").unlink()
    assert sorted(index_masks(preds, "prediction")) == ["ISIC_0000095"]  # _prob.png ignored


def test_evaluate_known_scores(preds, tmp_path, capsys):
    # make ISIC_0000095 count too: rename to the label form
    (preds / "ISIC_0000095.png").rename(preds / "ISIC_0000095_segmentation.png")
    j, c = tmp_path / "r.json", tmp_path / "r.csv"
    rc = main(["evaluate", str(preds), str(SAMPLES), "--json", str(j), "--csv", str(c)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "Evaluated 4 image pairs" in out and "dice" in out and "thresholded_jaccard" in out
    report = json.loads(j.read_text())
    assert report["n_images"] == 4 and report["failed"] == [] and report["missing_prediction"] == []
    per = {r["id"]: r for r in report["per_image"]}
    assert per["IMD002"]["dice"] == 1.0 and per["IMD002"]["boundary_mean_px"] == 0.0
    assert per["ISIC_0000095"]["dice"] == 0.0 and per["ISIC_0000095"]["sensitivity"] == 0.0
    assert per["ISIC_0024311"]["sensitivity"] == 1.0 and per["ISIC_0024311"]["specificity"] == 0.0
    expected = evaluate_masks(np.roll(gt("IMD009"), 20, axis=1), gt("IMD009"))
    for k in METRIC_NAMES:
        assert per["IMD009"][k] == pytest.approx(expected[k])
        assert report["mean"][k] == pytest.approx(np.mean([per[s][k] for s in STEMS]))
    rows = list(csv.DictReader(c.open()))
    assert [r["id"] for r in rows] == STEMS
    assert list(rows[0]) == ["id", "prediction", "ground_truth", *METRIC_NAMES]
    assert float(rows[1]["dice"]) == pytest.approx(expected["dice"], abs=1e-6)
    # The table's "worst" is the lowest score but the largest boundary distance, and names
    # the image (it printed the minimum of every column: a distance's best case).
    table = {line.split()[0]: line.split() for line in out.splitlines()
             if line.split() and line.split()[0] in METRIC_NAMES}
    assert "worst" in out and " min" not in out
    assert table["dice"][3:] == ["0.0000", "ISIC_0000095"]
    worst_hd = max(per[s]["boundary_hd95_px"] for s in STEMS)
    assert float(table["boundary_hd95_px"][3]) == pytest.approx(worst_hd, abs=1e-4)
    assert table["boundary_hd95_px"][4] == max(STEMS, key=lambda s: per[s]["boundary_hd95_px"])


def test_missing_pairs_reported(preds, tmp_path, capsys):
    save_mask(preds / "EXTRA_segmentation.png", np.zeros((5, 5), bool))
    rc = main(["evaluate", str(preds), str(SAMPLES), "--json", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert rc == 1  # a ground-truth mask without prediction makes the run incomplete
    assert "1 ground-truth mask has no prediction" in err and "ISIC_0000095" in err
    assert "1 prediction has no ground truth" in err and "EXTRA" in err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["n_images"] == 3
    assert report["missing_prediction"] == ["ISIC_0000095"]
    assert report["missing_ground_truth"] == ["EXTRA"]


def test_size_mismatch_and_damaged_reported(tmp_path, capsys):
    pred_dir, gt_dir = tmp_path / "p", tmp_path / "g"
    pred_dir.mkdir()
    gt_dir.mkdir()
    for stem in ("a", "b", "c"):
        shutil.copy(SAMPLES / "IMD002_segmentation.png", gt_dir / f"{stem}_segmentation.png")
    save_mask(pred_dir / "a_segmentation.png", gt("IMD002"))
    save_mask(pred_dir / "b_segmentation.png", gt("IMD002")[:100, :200])
    (pred_dir / "c_segmentation.png").write_bytes(b"\x89PNG broken")
    rc = main(["evaluate", str(pred_dir), str(gt_dir), "--json", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    assert rc == 1
    assert "b_segmentation.png is 200×100 px but ground truth b_segmentation.png is 512×383 px" \
        in captured.err
    assert "skipped c" in captured.err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["n_images"] == 1 and report["mean"]["dice"] == 1.0
    assert [f["id"] for f in report["failed"]] == ["b", "c"]


def test_no_pairs_is_an_error(tmp_path, capsys):
    (tmp_path / "p").mkdir()
    rc = main(["evaluate", str(tmp_path / "p"), str(SAMPLES)])
    assert rc == 2 and "matches a ground-truth mask" in capsys.readouterr().err
    rc = main(["evaluate", str(tmp_path / "nope"), str(SAMPLES)])
    assert rc == 2 and "does not exist" in capsys.readouterr().err
