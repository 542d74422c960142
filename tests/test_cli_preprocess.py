"""``dermview preprocess``: batch processing, bad files skipped, masks, inputs never overwritten."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from dermview.cli import main
from dermview.io import load_image, load_mask


@pytest.fixture()
def folder(tmp_path, samples_dir):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("IMD009.jpg", "ISIC_0024311.jpg"):
        shutil.copy(samples_dir / name, src / name)
    (src / "broken.jpg").write_bytes(b"this is not a jpeg")
    return src


def test_folder_with_bad_file(folder, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["preprocess", str(folder), "--out", str(out), "--save-masks"])
    err = capsys.readouterr().err
    assert status != 0
    assert "broken.jpg" in err
    for stem in ("IMD009", "ISIC_0024311"):
        img = load_image(out / f"{stem}.png")
        assert img.shape == load_image(folder / f"{stem}.jpg").shape
        assert load_mask(out / f"{stem}_frame.png").shape == img.shape[:2]
        assert load_mask(out / f"{stem}_hair.png").shape == img.shape[:2]
    assert not (out / "broken.png").exists()


def test_single_image_options(tmp_path, samples_dir):
    out = tmp_path / "o"
    status = main(["preprocess", str(samples_dir / "IMD009.jpg"), "--out", str(out),
                   "--hair-threshold", "0", "--se-shape", "ellipse", "--se-size", "9",
                   "--frame-threshold", "50", "--no-frame"])
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == ["IMD009.png"]
    status = main(["preprocess", str(samples_dir / "IMD009.jpg"), "--out", str(out / "n"),
                   "--no-frame", "--no-hair"])
    assert status == 0
    unchanged = load_image(out / "n" / "IMD009.png")
    assert np.array_equal(unchanged, load_image(samples_dir / "IMD009.jpg"))


def test_never_overwrites_inputs(tmp_path, samples_dir):
    src = tmp_path / "d"
    src.mkdir()
    shutil.copy(samples_dir / "ISIC_0024311.jpg", src / "a.png")  # a JPEG named .png
    before = (src / "a.png").read_bytes()
    status = main(["preprocess", str(src / "a.png"), "--out", str(src)])
    assert status != 0
    assert (src / "a.png").read_bytes() == before


def test_existing_outputs_are_kept_unless_overwrite(tmp_path, samples_dir, capsys):
    """Docs trial finding: a second run into the same --out replaced the first run's images
    without a word (segment, export, import and finetune refuse without --overwrite)."""
    out = tmp_path / "o"
    image = samples_dir / "IMD009.jpg"
    assert main(["preprocess", str(image), "--out", str(out), "--no-hair"]) == 0
    first = (out / "IMD009.png").read_bytes()
    capsys.readouterr()
    assert main(["preprocess", str(image), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "IMD009.png already exists" in err
    # its summary says skipped, as the line above and the other commands (trial S17B: "0
    # images written to o, 1 failed" for an image left alone on purpose)
    assert "0 images written to" in err and "; 1 skipped" in err and "failed" not in err
    assert (out / "IMD009.png").read_bytes() == first
    assert main(["preprocess", str(image), "--out", str(out), "--overwrite"]) == 0
    assert (out / "IMD009.png").read_bytes() != first


def test_csv_gives_each_images_hair_count_and_repair(folder, tmp_path, capsys):
    """Docs trial finding: the command printed no hair count N or repair mode, so the app's
    N could only be compared by reading --save-masks; --csv gives them per image."""
    import csv

    table = tmp_path / "rows.csv"
    assert main(["preprocess", str(folder), "--out", str(tmp_path / "o"), "--csv", str(table)]) == 1
    rows = list(csv.DictReader(table.open()))
    assert [r["id"] for r in rows] == ["IMD009", "ISIC_0024311"]  # the broken file has none
    from dermview.preprocess import preprocess

    res = preprocess(load_image(folder / "IMD009.jpg"))
    assert rows[0]["hair_count"] == str(res.hair_count) and rows[0]["repair"] == res.repair_mode
    assert rows[0]["hair_pixels"] == str(int(res.hair_mask.sum())) and rows[0]["image"] == "IMD009.png"
    assert float(rows[0]["seconds"]) > 0


@pytest.mark.parametrize("bad", [["--se-size", "4"], ["--se-shape", "disk"],
                                 ["--hair-threshold", "-2"], ["--frame-threshold", "300"]])
def test_bad_options_refused(tmp_path, samples_dir, bad):
    with pytest.raises(SystemExit) as exc:
        main(["preprocess", str(samples_dir / "IMD009.jpg"), "--out", str(tmp_path), *bad])
    assert exc.value.code == 2


def test_missing_input_reported(tmp_path, samples_dir, capsys):
    status = main(["preprocess", str(tmp_path / "nope.jpg"), str(samples_dir / "IMD002.jpg"),
                   "--out", str(tmp_path / "o")])
    assert status != 0
    assert "nope.jpg" in capsys.readouterr().err
    assert (tmp_path / "o" / "IMD002.png").exists()


def test_same_file_named_twice_is_done_once_without_a_skip(tmp_path, samples_dir, capsys):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(samples_dir / "IMD002.jpg", src)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(samples_dir / "IMD009.jpg", other / "IMD002.jpg")
    # a folder and one of its own images (spelt another way): one image, nothing skipped
    rc = main(["preprocess", str(src), str(src / ".." / "in" / "IMD002.jpg"),
               "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 0 and "skipped" not in err and (tmp_path / "o" / "IMD002.png").exists()
    # another file with the same name still is refused (its output would overwrite)
    rc = main(["preprocess", str(src), str(other), "--out", str(tmp_path / "o2")])
    assert rc == 1 and "same name as" in capsys.readouterr().err
