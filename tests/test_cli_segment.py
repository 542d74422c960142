"""``dermview segment`` on the bundled samples: file names, sizes, values, bad inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from _weights import make_weights  # noqa: E402

from dermview.cli import main  # noqa: E402
from dermview.model import inference  # noqa: E402
from dermview.model.weights import DEFAULT_WEIGHTS  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "samples"
STEMS = ["IMD002", "IMD009", "ISIC_0000095", "ISIC_0024311"]
SIZES = {"IMD002": (512, 383), "IMD009": (512, 384), "ISIC_0000095": (512, 384),
         "ISIC_0024311": (512, 384)}  # (width, height), as PIL reports


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    path = make_weights(tmp_path_factory.mktemp("w"))
    inference.clear_cache()
    yield path
    torch.set_num_threads(threads)


def test_segment_samples_folder(weights, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["segment", str(SAMPLES), "--out", str(out), "--weights", str(weights),
               "--device", "cpu", "--no-preprocess", "--save-prob"])
    assert rc == 0, capsys.readouterr()
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"{s}_segmentation.png" for s in STEMS] + [f"{s}_prob.png" for s in STEMS])
    for stem in STEMS:
        mask = Image.open(out / f"{stem}_segmentation.png")
        prob = Image.open(out / f"{stem}_prob.png")
        assert mask.mode == "L" and prob.mode == "L"
        assert mask.size == prob.size == SIZES[stem]
        values = np.unique(np.asarray(mask))
        assert set(values.tolist()) <= {0, 255}
    assert "Segmented 4 images" in capsys.readouterr().out


def test_probability_maps_beside_the_images_are_not_segmented_next_time(weights, tmp_path,
                                                                          capsys):
    """ISIC layout: masks (and --save-prob maps, --dicom-seg files) written into the image
    folder itself; a second run over that folder must not take IMD002_prob.png or the
    Secondary Capture IMD002_image.dcm for images."""
    images = tmp_path / "images"
    images.mkdir()
    for stem in STEMS[:2]:
        shutil.copy(SAMPLES / f"{stem}.jpg", images)
    common = ["--weights", str(weights), "--device", "cpu", "--no-preprocess"]
    assert main(["segment", str(images), "--out", str(images), "--save-prob", "--dicom-seg",
                 *common]) == 0
    assert (images / f"{STEMS[0]}_image.dcm").is_file()
    capsys.readouterr()
    out = tmp_path / "again"
    assert main(["segment", str(images), "--out", str(out), *common]) == 0
    assert "Segmented 2 images" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [f"{s}_segmentation.png" for s in STEMS[:2]]


def test_segment_threshold_changes_mask_and_matches_prob(weights, tmp_path):
    src = SAMPLES / "IMD002.jpg"
    lo, hi = tmp_path / "lo", tmp_path / "hi"
    assert main(["segment", str(src), "--out", str(lo), "--weights", str(weights),
                 "--no-preprocess", "--threshold", "0", "--no-clean", "--save-prob"]) == 0
    assert main(["segment", str(src), "--out", str(hi), "--weights", str(weights),
                 "--no-preprocess", "--threshold", "1", "--no-clean"]) == 0
    assert (np.asarray(Image.open(lo / "IMD002_segmentation.png")) == 255).all()
    prob = np.asarray(Image.open(lo / "IMD002_prob.png"))
    hi_mask = np.asarray(Image.open(hi / "IMD002_segmentation.png"))
    # nothing reaches probability 1 with an untrained net; the peak fallback may still mark
    # the area around the maximum, which then contains the brightest probability pixel
    if hi_mask.any():
        assert hi_mask.reshape(-1)[np.argmax(prob)] == 255
    else:
        assert prob.max() < 255


def test_segment_with_preprocessing(weights, tmp_path):
    out = tmp_path / "pre"
    assert main(["segment", str(SAMPLES / "IMD009.jpg"), "--out", str(out),
                 "--weights", str(weights)]) == 0  # model metadata: raw images → no preprocessing
    assert (out / "IMD009_segmentation.png").is_file()


def test_bad_files_are_skipped_and_exit_nonzero(weights, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(SAMPLES / "ISIC_0024311.jpg", src / "good.jpg")
    (src / "empty.jpg").write_bytes(b"")
    (src / "text.png").write_text("not an image")
    good = SAMPLES / "IMD002.jpg"
    out = tmp_path / "out"
    rc = main(["segment", str(src), str(good), str(tmp_path / "missing.jpg"), "--out", str(out),
               "--weights", str(weights), "--no-preprocess"])
    err = capsys.readouterr().err
    assert rc == 1
    assert sorted(p.name for p in out.iterdir()) == ["IMD002_segmentation.png",
                                                     "good_segmentation.png"]
    assert "empty.jpg" in err and "text.png" in err and "missing.jpg" in err


def test_existing_outputs_not_overwritten_without_flag(weights, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    target = out / "IMD002_segmentation.png"
    target.write_bytes(b"hand-made label")
    args = ["segment", str(SAMPLES / "IMD002.jpg"), "--out", str(out), "--weights", str(weights),
            "--no-preprocess"]
    assert main(args) == 1
    assert target.read_bytes() == b"hand-made label"
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    assert Image.open(target).size == SIZES["IMD002"]


def test_existing_label_and_sidecar_are_named_in_a_correct_sentence(weights, tmp_path, capsys):
    """Trial finding: 'IMD002_segmentation.png, IMD002_segmentation.json already exists in
    wl/labels'; one file 'exists', several 'exist'."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "IMD002_segmentation.png").write_bytes(b"hand-made label")
    args = ["segment", str(SAMPLES / "IMD002.jpg"), "--out", str(out), "--weights", str(weights),
            "--no-preprocess"]
    assert main(args) == 1
    assert "IMD002_segmentation.png already exists in" in capsys.readouterr().err
    (out / "IMD002_segmentation.json").write_text("{}")
    assert main([*args, "--sidecar"]) == 1
    err = capsys.readouterr().err
    assert "IMD002_segmentation.png, IMD002_segmentation.json already exist in" in err


def test_duplicate_stems_reported(weights, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(SAMPLES / "IMD009.jpg", other / "IMD002.jpg")
    rc = main(["segment", str(SAMPLES / "IMD002.jpg"), str(other / "IMD002.jpg"),
               "--out", str(tmp_path / "out"), "--weights", str(weights), "--no-preprocess"])
    assert rc == 1 and "same name" in capsys.readouterr().err


def test_bad_threshold_rejected(weights, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["segment", str(SAMPLES), "--out", str(tmp_path), "--threshold", "1.5"])
    assert exc.value.code == 2
    assert "between 0 and 1" in capsys.readouterr().err


def test_tampered_weights_exit_2(weights, tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    shutil.copy(weights, bad)
    shutil.copy(weights.with_suffix(".json"), bad.with_suffix(".json"))
    bad.write_bytes(bad.read_bytes()[:-10])
    rc = main(["segment", str(SAMPLES / "IMD002.jpg"), "--out", str(tmp_path / "o"),
               "--weights", str(bad)])
    assert rc == 2 and "SHA-256" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present on this machine")
def test_cuda_absent_exit_2(weights, tmp_path, capsys):
    rc = main(["segment", str(SAMPLES / "IMD002.jpg"), "--out", str(tmp_path / "o"),
               "--weights", str(weights), "--device", "cuda"])
    assert rc == 2 and "CUDA" in capsys.readouterr().err


@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="bundled default weights not trained yet")
def test_segment_then_evaluate_with_bundled_model(tmp_path, capsys):
    import json

    out = tmp_path / "out"
    assert main(["segment", str(SAMPLES), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{s}_segmentation.png" for s in STEMS)
    assert main(["evaluate", str(out), str(SAMPLES), "--json", str(tmp_path / "e.json")]) == 0
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["n_images"] == 4
    assert report["mean"]["dice"] > 0.8, report["mean"]


def test_sidecar_provenance_readable_by_labels(weights, tmp_path):
    from dermview.label_status import label_mismatch, label_status
    from dermview.labels import load_label, read_label_meta
    from dermview.model.weights import sha256_file

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(SAMPLES / "ISIC_0024311.jpg", src / "ISIC_0024311.jpg")
    out = src / "labels"  # the desktop app's default labels folder
    assert main(["segment", str(src), "--out", str(out), "--weights", str(weights),
                 "--no-preprocess", "--threshold", "0.4", "--sidecar"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["ISIC_0024311_segmentation.json",
                                                     "ISIC_0024311_segmentation.png"]
    meta = read_label_meta(src / "ISIC_0024311.jpg")
    assert meta["source"] == "model" and meta["threshold"] == 0.4
    assert meta["model_sha256"] == sha256_file(weights)
    assert meta["image_size"] == list(SIZES["ISIC_0024311"])
    assert meta["preprocess_params"] is None
    assert label_status(src / "ISIC_0024311.jpg") == "segmented"
    loaded = load_label(src / "ISIC_0024311.jpg", shape=(384, 512))
    assert loaded is not None
    mask, sidecar = loaded
    assert mask.dtype == bool and sidecar["lesion_pixels"] == int(mask.sum())
    assert label_mismatch(src / "ISIC_0024311.jpg", sidecar) is None


def test_tta_modes_recorded_in_the_sidecar(weights, tmp_path):
    from dermview.labels import read_label_meta

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(SAMPLES / "IMD002.jpg", src / "IMD002.jpg")
    metas = {}
    for mode in ("off", "auto", "on"):
        out = tmp_path / mode
        assert main(["segment", str(src), "--out", str(out), "--weights", str(weights),
                     "--no-preprocess", "--sidecar", "--save-prob", "--tta", mode]) == 0
        metas[mode] = read_label_meta(src / "IMD002.jpg", labels_dir=out)
    assert "tta" not in metas["off"] and "tta_applied" not in metas["off"]
    assert metas["on"]["tta"] == "hflip" and metas["on"]["tta_applied"] is True
    assert metas["auto"]["tta"] == "hflip_when_unsure"
    # auto gives the plain result or the flip-averaged one, whichever its gate chose
    prob = {m: np.asarray(Image.open(tmp_path / m / "IMD002_prob.png")).astype(int)
            for m in metas}
    same = "on" if metas["auto"]["tta_applied"] else "off"
    assert np.abs(prob["auto"] - prob[same]).max() <= 1  # float rounding of the two sums
