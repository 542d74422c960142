"""``dermview analyze`` on the bundled samples: CSV, JSON, PDF reports, scale, bad inputs."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _weights import make_weights  # noqa: E402

from dermview.analysis import COLOR_NAMES  # noqa: E402
from dermview.cli import main  # noqa: E402
from dermview.model.classifier import PROB_KEYS, Classifier  # noqa: E402

STEMS = ["IMD002", "IMD009", "ISIC_0000095", "ISIC_0024311"]
LEADING = ["id", "area_px", "area_mm2", "diameter_px", "diameter_mm", "asymmetry", "border_score",
           *(f"color_{c}" for c in COLOR_NAMES), "n_colors"]


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def test_analyze_samples_with_masks_scale_json_and_reports(samples_dir, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["analyze", str(samples_dir), "--masks", str(samples_dir), "--mm-per-px", "0.02",
               "--csv", str(out / "a.csv"), "--json", str(out / "a.json"),
               "--report", str(out / "reports")])
    assert rc == 0, capsys.readouterr().err
    cols, rows = read_csv(out / "a.csv")
    assert cols[: len(LEADING)] == LEADING and "seconds" in cols
    assert [r["id"] for r in rows] == STEMS
    for r in rows:
        assert r["units"] == "mm" and r["mask_source"] == "file"
        assert float(r["diameter_mm"]) == pytest.approx(float(r["diameter_px"]) * 0.02, rel=1e-4)
        assert float(r["area_mm2"]) == pytest.approx(int(r["area_px"]) * 0.0004, rel=1e-4)
        assert r["asymmetry"] in {"0", "1", "2"}
        assert int(r["n_colors"]) == sum(int(r[f"color_{c}"]) for c in COLOR_NAMES)
        assert float(r["seconds"]) > 0
        probs = [float(r[k]) for k in PROB_KEYS]
        assert all(0 <= p <= 1 for p in probs) and sum(probs) == pytest.approx(1, abs=1e-4)
    from dermview.io import load_mask

    m = load_mask(samples_dir / "IMD002_segmentation.png")
    assert int(rows[0]["area_px"]) == int(m.sum())
    details = json.loads((out / "a.json").read_text())
    assert [d["id"] for d in details] == STEMS
    assert {"major_axis", "minor_axis", "diameter"} <= set(details[0]["geometry"])
    for stem in STEMS:
        pdf = (out / "reports" / f"{stem}_report.pdf").read_bytes()
        assert pdf.startswith(b"%PDF") and len(pdf) > 10_000


def test_classifier_loaded_once_per_run_and_rows_match_predict(samples_dir, tmp_path, monkeypatch):
    calls = []
    real = Classifier.load.__func__

    def counting(cls, *a, **k):
        calls.append(a)
        return real(cls, *a, **k)

    monkeypatch.setattr(Classifier, "load", classmethod(counting))
    csv_path = tmp_path / "a.csv"
    assert main(["analyze", str(samples_dir), "--masks", str(samples_dir), "--device", "cpu",
                 "--csv", str(csv_path)]) == 0
    assert len(calls) == 1  # not once per image
    cols, rows = read_csv(csv_path)
    assert set(PROB_KEYS) <= set(cols) and len(rows) == len(STEMS)
    from dermview.io import load_image, load_mask

    clf = Classifier.load(device="cpu")
    rgb = load_image(samples_dir / "IMD002.jpg")
    want = clf.predict(rgb, load_mask(samples_dir / "IMD002_segmentation.png"))
    for k in PROB_KEYS:
        assert float(rows[0][k]) == pytest.approx(want[k], rel=1e-4, abs=1e-6)


def test_without_scale_sizes_stay_in_pixels(samples_dir, tmp_path):
    csv_path = tmp_path / "a.csv"
    assert main(["analyze", str(samples_dir / "IMD002.jpg"), "--masks", str(samples_dir),
                 "--csv", str(csv_path)]) == 0
    _, rows = read_csv(csv_path)
    assert rows[0]["units"] == "px"
    assert rows[0]["area_mm2"] == "" and rows[0]["diameter_mm"] == ""
    assert rows[0]["diameter_over_6mm"] == ""


def test_dicom_pixel_spacing_gives_the_scale_unless_one_is_given(samples_dir, tmp_path, capsys):
    """Trial finding: a DICOM file's Pixel Spacing was ignored (sizes in px) without
    --mm-per-px; it now gives that file's scale, a JPEG in the same run stays in px, and an
    explicit --mm-per-px still applies to every image."""
    from _dicom import dicom_bytes

    from dermview.io import load_image

    imgs, masks = tmp_path / "imgs", tmp_path / "masks"
    imgs.mkdir()
    masks.mkdir()
    (imgs / "case.dcm").write_bytes(dicom_bytes(load_image(samples_dir / "IMD002.jpg"),
                                                pixel_spacing=(0.04, 0.04)))
    shutil.copy(samples_dir / "IMD009.jpg", imgs / "IMD009.jpg")
    for stem, src in (("case", "IMD002"), ("IMD009", "IMD009")):
        shutil.copy(samples_dir / f"{src}_segmentation.png", masks / f"{stem}_segmentation.png")
    csv_path = tmp_path / "a.csv"
    assert main(["analyze", str(imgs), "--masks", str(masks), "--csv", str(csv_path)]) == 0
    rows = {r["id"]: r for r in read_csv(csv_path)[1]}
    assert rows["case"]["units"] == "mm"
    assert float(rows["case"]["diameter_mm"]) == pytest.approx(
        0.04 * float(rows["case"]["diameter_px"]), rel=1e-4)
    assert rows["IMD009"]["units"] == "px" and rows["IMD009"]["diameter_mm"] == ""
    assert "mm for 1 image with a DICOM pixel spacing, px for 1" in capsys.readouterr().out
    assert main(["analyze", str(imgs), "--masks", str(masks), "--mm-per-px", "0.02",
                 "--csv", str(csv_path)]) == 0
    rows = {r["id"]: r for r in read_csv(csv_path)[1]}
    assert float(rows["case"]["mm_per_px"]) == pytest.approx(0.02)
    assert float(rows["IMD009"]["mm_per_px"]) == pytest.approx(0.02)
    # non-square pixels: sizes in px, and the reason (lengths were 21 % off with one scale)
    (imgs / "case.dcm").write_bytes(dicom_bytes(load_image(samples_dir / "IMD002.jpg"),
                                                pixel_spacing=(0.02, 0.04)))
    capsys.readouterr()
    assert main(["analyze", str(imgs / "case.dcm"), "--masks", str(masks), "--csv",
                 str(csv_path)]) == 0
    assert read_csv(csv_path)[1][0]["units"] == "px"
    assert "case.dcm: sizes in px: its DICOM pixels are not square (0.02 mm high × 0.04 mm " \
        "wide)" in capsys.readouterr().err


def test_bad_and_unmasked_files_are_skipped_with_one_line(samples_dir, tmp_path, capsys):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    shutil.copy(samples_dir / "IMD002.jpg", imgs)
    shutil.copy(samples_dir / "IMD009.jpg", imgs / "nomask.jpg")
    (imgs / "broken.jpg").write_bytes(b"not a jpeg")
    csv_path = tmp_path / "a.csv"
    rc = main(["analyze", str(imgs), "--masks", str(samples_dir), "--csv", str(csv_path)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "skipped" in err and "broken.jpg" in err and "nomask_segmentation.png" in err
    assert "Traceback" not in err
    _, rows = read_csv(csv_path)
    assert [r["id"] for r in rows] == ["IMD002"]


def test_a_rejected_label_is_not_measured(samples_dir, tmp_path, capsys):
    """A label the reviewer rejected (wrong, to be redone) is no lesion outline to measure."""
    from dermview.io import load_mask
    from dermview.labels import LabelMeta, image_sha256, save_label

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for stem in ("IMD002", "IMD009"):
        img = imgs / f"{stem}.jpg"
        shutil.copy(samples_dir / img.name, img)
        mask = load_mask(samples_dir / f"{stem}_segmentation.png")
        save_label(img, mask, LabelMeta(image_sha256=image_sha256(img),
                                        image_size=(mask.shape[1], mask.shape[0]),
                                        review_state="rejected" if stem == "IMD009" else "accepted"))
    csv_path = tmp_path / "a.csv"
    rc = main(["analyze", str(imgs), "--masks", str(imgs / "labels"), "--csv", str(csv_path)])
    err = capsys.readouterr().err
    assert rc == 1 and "IMD009_segmentation.png was rejected by the reviewer" in err
    _, rows = read_csv(csv_path)
    assert [r["id"] for r in rows] == ["IMD002"]


def test_mask_of_another_size_is_skipped(samples_dir, tmp_path, capsys):
    masks = tmp_path / "masks"
    masks.mkdir()
    shutil.copy(samples_dir / "IMD009_segmentation.png", masks / "IMD002_segmentation.png")
    from PIL import Image

    Image.open(masks / "IMD002_segmentation.png").resize((50, 40)).save(masks / "IMD002_segmentation.png")
    rc = main(["analyze", str(samples_dir / "IMD002.jpg"), "--masks", str(masks),
               "--csv", str(tmp_path / "a.csv")])
    assert rc == 1
    assert "IMD002.jpg" in capsys.readouterr().err


def test_segmenter_masks_when_no_masks_folder(samples_dir, tmp_path):
    weights = make_weights(tmp_path)
    csv_path = tmp_path / "a.csv"
    rc = main(["analyze", str(samples_dir / "IMD002.jpg"), "--weights", str(weights),
               "--device", "cpu", "--csv", str(csv_path)])
    _, rows = read_csv(csv_path) if csv_path.exists() else ([], [])
    # an untrained net may find no lesion: then the image is skipped with a reason
    assert (rc == 0 and rows[0]["mask_source"] == "model:tiny-test") or (rc == 1 and not rows)


def test_without_masks_the_saved_labels_of_the_folder_are_pointed_out(samples_dir, tmp_path,
                                                                      capsys):
    """Trial finding: 'dermview analyze FOLDER' after reviewing FOLDER in the app measured new
    model masks, silently ignoring the accepted and corrected labels in FOLDER/labels; it
    now says they exist and how to measure them (--masks), and says nothing without labels."""
    weights = make_weights(tmp_path)
    imgs = tmp_path / "imgs"
    (imgs / "labels").mkdir(parents=True)
    for stem in ("IMD002", "IMD009"):
        shutil.copy(samples_dir / f"{stem}.jpg", imgs / f"{stem}.jpg")
    args = ["analyze", str(imgs), "--weights", str(weights), "--device", "cpu",
            "--csv", str(tmp_path / "a.csv")]
    main(args)
    assert "saved label" not in capsys.readouterr().err
    shutil.copy(samples_dir / "IMD002_segmentation.png", imgs / "labels" / "IMD002_segmentation.png")
    main(args)
    err = capsys.readouterr().err
    assert "holds 1 saved label of these images" in err
    assert f"--masks {imgs / 'labels'}" in err


def test_bundled_model_masks(samples_dir, tmp_path):
    csv_path = tmp_path / "a.csv"
    assert main(["analyze", str(samples_dir / "ISIC_0024311.jpg"), "--csv", str(csv_path),
                 "--device", "cpu"]) == 0
    _, rows = read_csv(csv_path)
    assert rows[0]["mask_source"].startswith("model:")
    assert int(rows[0]["area_px"]) > 1000


def test_bad_scale_and_missing_masks_folder(samples_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["analyze", str(samples_dir), "--mm-per-px", "-1", "--csv", str(tmp_path / "a.csv")])
    assert exc.value.code == 2
    assert main(["analyze", str(samples_dir), "--masks", str(tmp_path / "nope"),
                 "--csv", str(tmp_path / "a.csv")]) == 2
    assert "masks folder" in capsys.readouterr().err


def test_cli_subprocess_prints_no_traceback(samples_dir, tmp_path):
    r = subprocess.run([sys.executable, "-m", "dermview", "analyze", str(tmp_path / "missing.jpg"),
                        "--masks", str(samples_dir), "--csv", str(tmp_path / "a.csv")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and "missing.jpg" in r.stderr


def test_report_time_is_written_for_people():
    from dermview.report import _readable_time

    assert _readable_time("2026-12-02T19:06:02.760Z") == "2026-12-02 19:06 UTC"
    assert _readable_time("") == "" and _readable_time("yesterday") == "yesterday"


def test_batch_report_carries_the_rows_probabilities_and_plain_preprocessing(
        samples_dir, tmp_path, monkeypatch):
    """The PDF of ``analyze --report`` has the same diagnosis-support line as the app's report,
    with the row's calibrated probabilities, and the preprocessing in words."""
    import dermview.report as report

    infos = {}
    real = report.write_report

    def keeping(path, rgb, mask, analysis, info):
        infos[Path(path).name] = info
        return real(path, rgb, mask, analysis, info)

    monkeypatch.setattr(report, "write_report", keeping)
    out = tmp_path / "out"
    assert main(["analyze", str(samples_dir / "IMD002.jpg"), "--csv", str(out / "a.csv"),
                 "--report", str(out / "reports")]) == 0
    _, rows = read_csv(out / "a.csv")
    info = infos["IMD002_report.pdf"]
    lines = dict(info.extra)
    names = ("Melanoma", "Seborrheic keratosis", "Naevus")  # as the Diagnosis panel names them
    want = ", ".join(f"{n} {float(rows[0][k]):.2f}" for n, k in zip(names, PROB_KEYS, strict=True))
    assert lines["Classifier (calibrated)"] == want
    assert "not a diagnosis" in lines[""]
    assert lines["Classifier model"].startswith("lesion-classifier-160px (SHA-256 ")
    # as the app's report names it (it read "model litesegnet-… (SHA-256 …)")
    assert not info.model.startswith("model ") and "(SHA-256 " in info.model, info.model
    assert info.preprocessing.startswith("before segmenting: dark frame filled")


def test_a_run_that_measures_nothing_leaves_no_earlier_rows(samples_dir, tmp_path, capsys):
    """Trial S17B: 'Analysed 0 images into a.csv' (every mask of the wrong size) wrote no
    a.csv: a missing file then, or, run again into the same file, the earlier run's rows
    left there to be read as this run's."""
    csv_path, json_path = tmp_path / "a.csv", tmp_path / "a.json"
    csv_path.write_text("id,area_px\nOLD_RUN,1\n", encoding="utf-8")
    json_path.write_text('[{"id": "OLD_RUN"}]', encoding="utf-8")
    masks = tmp_path / "masks"
    masks.mkdir()  # a folder without the image's mask: the image is skipped
    rc = main(["analyze", str(samples_dir / "IMD002.jpg"), "--masks", str(masks),
               "--csv", str(csv_path), "--json", str(json_path)])
    assert rc == 1 and "Analysed 0 images into" in capsys.readouterr().out
    columns, rows = read_csv(csv_path)
    assert rows == [] and columns[0] == "id" and "OLD_RUN" not in csv_path.read_text()
    assert json.loads(json_path.read_text()) == []


def test_an_interrupted_run_keeps_the_rows_of_the_images_measured(samples_dir, tmp_path,
                                                                   capsys, monkeypatch):
    """Trial S17B: Ctrl+C during ``analyze --report`` left 25 PDFs but no CSV (it was written
    once at the end): the images measured before the interrupt keep their rows (and JSON)."""
    import dermview.analysis as analysis

    real, calls = analysis.analyze_lesion, []

    def interrupted_at_the_third(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(analysis, "analyze_lesion", interrupted_at_the_third)
    out = tmp_path / "out"
    rc = main(["analyze", str(samples_dir), "--masks", str(samples_dir), "--csv",
               str(out / "a.csv"), "--json", str(out / "a.json"), "--report", str(out / "r")])
    err = capsys.readouterr().err
    assert rc == 130 and "interrupted after 2 images of 4" in err
    assert [r["id"] for r in read_csv(out / "a.csv")[1]] == STEMS[:2]
    assert [d["id"] for d in json.loads((out / "a.json").read_text())] == STEMS[:2]
    assert sorted(p.name for p in (out / "r").iterdir()) == [f"{s}_report.pdf" for s in STEMS[:2]]


def test_the_report_of_a_reviewed_label_names_its_model_and_reviewer(samples_dir, tmp_path,
                                                                      monkeypatch):
    """Trial S17B: with --masks, the report said "masks from study/labels" and "not reviewed
    (batch analysis)" of a label whose sidecar names the model, the correction and who
    accepted it; a bare mask file (another tool's, no sidecar) says so."""
    import dermview.report as report
    from dermview.io import load_mask
    from dermview.labels import LabelMeta, image_sha256, save_label

    infos = {}
    real = report.write_report
    monkeypatch.setattr(report, "write_report", lambda path, *a: infos.__setitem__(
        Path(path).name, a[-1]) or real(path, *a))
    images, labels = tmp_path / "images", tmp_path / "images" / "labels"
    images.mkdir()
    for stem in ("IMD002", "IMD009"):
        shutil.copy(samples_dir / f"{stem}.jpg", images / f"{stem}.jpg")
    mask = load_mask(samples_dir / "IMD002_segmentation.png")
    save_label(images / "IMD002.jpg", mask, LabelMeta(
        image_sha256=image_sha256(images / "IMD002.jpg"), image_size=mask.shape[::-1],
        model_name="litesegnet", model_sha256="ab" * 32, edited=True, review_state="corrected",
        review_comment="border redrawn at 3 o'clock", user="Ana Ruiz",
        extras={"reviewed_by": "Ana Ruiz"}))
    shutil.copy(samples_dir / "IMD009_segmentation.png", labels / "IMD009_segmentation.png")
    assert main(["analyze", str(images), "--masks", str(labels), "--csv", str(tmp_path / "a.csv"),
                 "--report", str(tmp_path / "r")]) == 0
    a, b = infos["IMD002_report.pdf"], infos["IMD009_report.pdf"]
    assert a.model.startswith("litesegnet (SHA-256 abababababab…), corrected by hand; label from")
    assert (a.review_state, a.reviewer, a.comment) == ("corrected", "Ana Ruiz",
                                                        "border redrawn at 3 o'clock")
    assert a.label_saved
    assert b.model.startswith("no model (a mask brought from another tool)")
    assert b.review_state == "not reviewed"
