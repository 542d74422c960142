"""``dermview segment --csv``: one row per image with id, mask, confidence, seconds; the
sidecar records the confidence too."""

import csv
import json
import shutil
from pathlib import Path

from dermview.cli import main
from dermview.commands._csv_rows import COLUMNS

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


def test_segment_csv_rows(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("IMD002.jpg", "ISIC_0000095.jpg"):
        shutil.copy(SAMPLES / name, src / name)
    (src / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "out"
    table = tmp_path / "rows" / "batch.csv"
    code = main(["segment", str(src), "--out", str(out), "--device", "cpu", "--csv", str(table),
                 "--sidecar"])
    assert code == 1  # the broken file is skipped and reported
    with open(table, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0].keys()) == COLUMNS
    assert sorted(r["id"] for r in rows) == ["IMD002", "ISIC_0000095"]
    for r in rows:
        assert Path(r["mask"]).is_file() and Path(r["mask"]).name == f"{r['id']}_segmentation.png"
        assert 0.0 <= float(r["confidence"]) <= 1.0
        assert float(r["seconds"]) > 0
        side = json.loads((out / f"{r['id']}_segmentation.json").read_text())
        assert abs(side["confidence"] - float(r["confidence"])) < 1e-4


def test_segment_csv_unwritable_path_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["segment", str(SAMPLES / "IMD002.jpg"), "--out", str(tmp_path / "o"),
                 "--device", "cpu", "--csv", str(blocker / "sub" / "rows.csv")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CSV" in err[0]


def _ids(table: Path) -> list[str]:
    with open(table, newline="", encoding="utf-8") as fh:
        return [r["id"] for r in csv.DictReader(fh)]


def test_a_rerun_keeps_the_rows_of_the_images_it_skips(tmp_path, capsys):
    """Trial S17B: running ``segment ... --csv seg.csv`` again (every mask already there, so
    every image skipped) left seg.csv with its header only: the confidences of the first run
    were lost, though nothing else is replaced without --overwrite."""
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(SAMPLES / "IMD002.jpg", src / "IMD002.jpg")
    out, table = tmp_path / "out", tmp_path / "seg.csv"
    args = ["segment", str(src), "--out", str(out), "--device", "cpu", "--csv", str(table)]
    assert main(args) == 0
    first = table.read_text(encoding="utf-8")
    main(args)  # skipped: its mask exists
    assert table.read_text(encoding="utf-8") == first
    shutil.copy(SAMPLES / "ISIC_0000095.jpg", src / "ISIC_0000095.jpg")  # a new image
    main(args)
    assert _ids(table) == ["IMD002", "ISIC_0000095"]
    assert main([*args, "--overwrite"]) == 0  # done again: one row each, not two
    assert sorted(_ids(table)) == ["IMD002", "ISIC_0000095"]
    capsys.readouterr()


def test_a_csv_of_other_columns_is_not_replaced(tmp_path, capsys):
    table = tmp_path / "notes.csv"
    table.write_text("patient,notes\nA,keep me\n", encoding="utf-8")
    code = main(["segment", str(SAMPLES / "IMD002.jpg"), "--out", str(tmp_path / "o"),
                 "--device", "cpu", "--csv", str(table)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "other columns" in err[0]
    assert "keep me" in table.read_text(encoding="utf-8")


def test_the_seconds_of_an_image_leave_out_its_waits_in_the_queue(tmp_path, capsys,
                                                                 monkeypatch):
    """Trial S17B: a 38-image run at 0.09 s per image wrote ``seconds`` of 1.1-1.2 s per image
    (each image's time in the queues behind the others), 12 times its cost."""
    import time

    import dermview.segmentation as segmentation

    real = segmentation.segment_image

    def slow(*a, **k):  # the network, the pipeline's bottleneck
        time.sleep(0.25)
        return real(*a, **k)

    monkeypatch.setattr(segmentation, "segment_image", slow)
    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        shutil.copy(SAMPLES / "IMD002.jpg", src / f"case{i}.jpg")
    table = tmp_path / "seg.csv"
    assert main(["segment", str(src), "--out", str(tmp_path / "out"), "--device", "cpu",
                 "--jobs", "2", "--csv", str(table)]) == 0
    with open(table, newline="", encoding="utf-8") as fh:
        seconds = [float(r["seconds"]) for r in csv.DictReader(fh)]
    assert len(seconds) == 6 and min(seconds) >= 0.25
    assert max(seconds) < 0.7, seconds  # waiting behind 2-4 images: 0.75-1.25 s
    capsys.readouterr()
