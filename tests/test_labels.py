"""Tests for dermview.labels: label files, backups, atomic failure behaviour, recovery store."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dermview.io as dio
from dermview.errors import MaskError, WriteError
from dermview.label_status import label_mismatch, label_status
from dermview.labels import (
    BACKUP_DIRNAME,
    MAX_BACKUPS,
    LabelMeta,
    image_sha256,
    label_paths,
    list_backups,
    load_label,
    read_label_meta,
    save_label,
)
from dermview.recovery import RecoveryStore

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


@pytest.fixture
def image(tmp_path) -> Path:
    """A small real JPEG in a temporary folder."""
    path = tmp_path / "lesion 01.jpg"
    rgb = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path, quality=90)
    return path


def make_mask(seed=0, shape=(30, 40)) -> np.ndarray:
    return np.random.default_rng(seed).random(shape) > 0.6


def meta_for(image: Path, **kw) -> LabelMeta:
    return LabelMeta(image_sha256=image_sha256(image), image_size=(40, 30), model_name="net",
                     model_sha256="ab" * 32, threshold=0.5, **kw)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------- paths


def test_label_paths_default_and_custom(tmp_path):
    png, js = label_paths(tmp_path / "ISIC_1.jpg")
    assert png == tmp_path / "labels" / "ISIC_1_segmentation.png"
    assert js == tmp_path / "labels" / "ISIC_1_segmentation.json"
    png, js = label_paths("x/y/a.b.tif", labels_dir=tmp_path / "out")
    assert png == tmp_path / "out" / "a.b_segmentation.png"


def test_image_sha256_matches_hashlib():
    path = SAMPLES / "IMD002.jpg"
    assert image_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------- save/load


def test_save_writes_png_0_255_and_json_fields(image):
    mask = make_mask()
    meta = meta_for(image, preprocess_params={"hair_threshold": 12}, edited=True,
                    edited_pixels=17, edit_operations=3)
    png, js = save_label(image, mask, meta)
    assert png.parent == image.parent / "labels"
    with Image.open(png) as img:
        assert img.format == "PNG" and img.mode == "L" and img.size == (40, 30)
        arr = np.asarray(img)
    assert set(np.unique(arr)) == {0, 255}
    np.testing.assert_array_equal(arr == 255, mask)
    d = json.loads(js.read_text(encoding="utf-8"))
    assert d["image_sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert d["image_size"] == [40, 30]
    assert d["model_name"] == "net" and d["model_sha256"] == "ab" * 32
    assert d["preprocess_params"] == {"hair_threshold": 12}
    assert d["threshold"] == 0.5
    assert d["edited"] is True and d["edited_pixels"] == 17 and d["edit_operations"] == 3
    assert d["user"] and d["app_version"] and d["source"] == "model"
    assert d["created"].endswith("Z") and d["modified"].endswith("Z")
    assert d["mask_sha256"] == hashlib.sha256(png.read_bytes()).hexdigest()
    assert d["lesion_pixels"] == int(mask.sum())
    assert LabelMeta.from_dict(d).to_dict() == d

    loaded = load_label(image, (30, 40))
    assert loaded is not None
    np.testing.assert_array_equal(loaded[0], mask)
    assert loaded[1] == d
    assert read_label_meta(image) == d


def test_numpy_values_in_metadata_are_stored_as_plain_json(image, tmp_path):
    meta = meta_for(image, edited=True, edited_pixels=np.int64(12),
                    preprocess_params={"t": np.float32(0.25), "shape": (3, 5),
                                       "path": tmp_path / "x"})
    meta.threshold = np.float32(0.5)
    _, js = save_label(image, make_mask(), meta)
    d = json.loads(js.read_text(encoding="utf-8"))
    assert d["edited_pixels"] == 12 and d["threshold"] == 0.5
    assert d["preprocess_params"] == {"t": 0.25, "shape": [3, 5], "path": str(tmp_path / "x")}
    store = RecoveryStore(tmp_path / "rec")
    store.save(image, make_mask(), {"n": np.int32(3)})
    assert store.entries()[0].meta == {"n": 3}
    with pytest.raises(TypeError):
        save_label(image, make_mask(), meta_for(image, preprocess_params={"x": object()}))


def test_load_missing_and_wrong_size(image, tmp_path):
    assert load_label(image, (30, 40)) is None
    save_label(image, make_mask(), meta_for(image))
    with pytest.raises(MaskError, match="40×30") as info:
        load_label(image, (60, 80))
    assert "lesion 01_segmentation.png" in str(info.value)


def test_save_rejects_mask_of_wrong_size(image):
    with pytest.raises(MaskError, match="not saved"):
        save_label(image, np.zeros((10, 10), bool), meta_for(image))
    assert not (image.parent / "labels").exists()


def test_label_mismatch_detects_other_image(image):
    save_label(image, make_mask(), meta_for(image))
    meta = load_label(image, (30, 40))[1]
    assert label_mismatch(image, meta) is None
    assert label_mismatch(image, None) is None
    twin = image.with_suffix(".png")  # same stem: shares the label file
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(twin)
    assert label_paths(twin) == label_paths(image)
    msg = label_mismatch(twin, load_label(twin, (30, 40))[1])
    assert msg is not None and twin.name in msg


def test_status_values(image, tmp_path):
    assert label_status(image) == "new"
    save_label(image, make_mask(), meta_for(image))
    assert label_status(image) == "segmented"
    save_label(image, make_mask(1), meta_for(image, edited=True, edited_pixels=5))
    assert label_status(image) == "corrected"
    # A damaged sidecar still counts as segmented (the PNG exists).
    label_paths(image)[1].write_text("{not json", encoding="utf-8")
    assert label_status(image) == "segmented"
    assert load_label(image, (30, 40))[1] is None
    # A mask from another tool (no sidecar; or dermview import's) is "imported", as fine-tuning
    # takes it (a corrected label), not an unreviewed model mask.
    label_paths(image)[1].unlink()
    assert label_status(image) == "imported"
    save_label(image, make_mask(2), meta_for(image, source="imported"))
    assert label_status(image) == "imported"
    save_label(image, make_mask(2), meta_for(image, source="imported", review_state="accepted"))
    assert label_status(image) == "accepted"


def test_backup_kept_when_overwriting(image):
    first, second = make_mask(0), make_mask(1)
    png, js = save_label(image, first, meta_for(image))
    first_png, first_json = png.read_bytes(), js.read_bytes()
    created = json.loads(first_json)["created"]
    save_label(image, second, meta_for(image, edited=True))
    backups = list_backups(image)
    assert len(backups) == 1
    assert backups[0].parent == png.parent / BACKUP_DIRNAME
    assert backups[0].read_bytes() == first_png
    assert backups[0].with_suffix(".json").read_bytes() == first_json
    np.testing.assert_array_equal(load_label(image, (30, 40))[0], second)
    assert json.loads(js.read_text())["created"] == created  # creation time kept
    # Saving the identical label again does not pile up backups.
    save_label(image, second, meta_for(image, edited=True))
    assert len(list_backups(image)) == 1


def test_backups_are_pruned(image, monkeypatch):
    monkeypatch.setattr("dermview.labels.MAX_BACKUPS", 3)
    for seed in range(6):
        save_label(image, make_mask(seed), meta_for(image))
    backups = list_backups(image)
    assert len(backups) == 3
    # The newest backup is the label saved just before the current one.
    assert backups[-1].read_bytes() == dio.encode_mask_png(make_mask(4))
    assert MAX_BACKUPS >= 10


def test_custom_labels_dir_created(image, tmp_path):
    out = tmp_path / "deep" / "labels dir é"
    png, js = save_label(image, make_mask(), meta_for(image), labels_dir=out)
    assert png.parent == out and js.is_file()
    assert label_status(image, out) == "segmented" and label_status(image) == "new"


def test_non_ascii_and_space_paths(tmp_path):
    folder = tmp_path / "Patiënt Ünïcode 皮膚"
    folder.mkdir()
    image = folder / "läsion 1.jpg"
    shutil.copy(SAMPLES / "IMD002.jpg", image)
    img = dio.load_image(image)
    mask = np.zeros(img.shape[:2], bool)
    mask[10:50, 20:70] = True
    meta = LabelMeta(image_sha256=image_sha256(image), image_size=(img.shape[1], img.shape[0]))
    save_label(image, mask, meta)
    np.testing.assert_array_equal(load_label(image, img.shape[:2])[0], mask)


# ---------------------------------------------------------------------------------- failures


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX non-root")
def test_read_only_folder_write_error_old_label_intact(image):
    png, js = save_label(image, make_mask(0), meta_for(image))
    before = snapshot(image.parent)
    labels = png.parent
    os.chmod(labels, 0o555)
    try:
        with pytest.raises(WriteError, match="read-only|cannot be created") as info:
            save_label(image, make_mask(1), meta_for(image))
        assert "\n" not in str(info.value)
    finally:
        os.chmod(labels, 0o755)
    assert snapshot(image.parent) == before


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX non-root")
def test_read_only_parent_cannot_create_labels_dir(image):
    os.chmod(image.parent, 0o555)
    try:
        with pytest.raises(WriteError, match="labels folder"):
            save_label(image, make_mask(), meta_for(image))
    finally:
        os.chmod(image.parent, 0o755)


def test_read_only_simulated_write_error_old_label_intact(image, monkeypatch):
    # Works as root too: the OS refuses to create the temporary file (read-only file system).
    save_label(image, make_mask(0), meta_for(image))
    before = snapshot(image.parent)

    def refuse(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    with pytest.raises(WriteError, match="read-only"):
        save_label(image, make_mask(1), meta_for(image))
    monkeypatch.undo()
    assert snapshot(image.parent) == before
    monkeypatch.setattr(Path, "mkdir", lambda *a, **k: refuse())
    with pytest.raises(WriteError, match="labels folder"):
        save_label(image, make_mask(1), meta_for(image), labels_dir=image.parent / "new")
    monkeypatch.undo()
    assert snapshot(image.parent) == before


def _fail_replace_for(target_name, real_replace, error):
    def fake_replace(src, dst):
        if Path(dst).name == target_name:
            raise error
        return real_replace(src, dst)
    return fake_replace


@pytest.mark.parametrize("target", ["png", "json"])
def test_crash_between_write_and_rename_keeps_old_label(image, monkeypatch, target):
    png, js = save_label(image, make_mask(0), meta_for(image))
    old = {"png": png.read_bytes(), "json": js.read_bytes()}
    name = png.name if target == "png" else js.name
    monkeypatch.setattr(os, "replace",
                        _fail_replace_for(name, os.replace, OSError(errno.EIO, "I/O error")))
    with pytest.raises(WriteError):
        save_label(image, make_mask(1), meta_for(image, edited=True))
    monkeypatch.undo()
    # Old label unchanged (the PNG is rolled back when only the sidecar failed).
    assert png.read_bytes() == old["png"]
    assert js.read_bytes() == old["json"]
    leftovers = [p for p in png.parent.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    np.testing.assert_array_equal(load_label(image, (30, 40))[0], make_mask(0))


def test_enospc_clear_error_no_partial_file(image, monkeypatch):
    png, js = save_label(image, make_mask(0), meta_for(image))
    before = snapshot(image.parent)
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()
            return False

        def write(self, data):
            self.fh.write(data[: len(data) // 2])  # part of it lands, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.fh, name)

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: FullDisk(real_fdopen(fd, *a, **k)))
    with pytest.raises(WriteError, match="disk is full"):
        save_label(image, make_mask(1), meta_for(image))
    monkeypatch.undo()
    assert snapshot(image.parent) == before


def test_first_save_failing_leaves_nothing(image, monkeypatch):
    png, js = label_paths(image)
    monkeypatch.setattr(os, "replace",
                        _fail_replace_for(js.name, os.replace, OSError(errno.ENOSPC, "full")))
    with pytest.raises(WriteError, match="disk is full"):
        save_label(image, make_mask(0), meta_for(image))
    monkeypatch.undo()
    assert not png.exists() and not js.exists()
    assert [p for p in png.parent.iterdir()] == []
    assert label_status(image) == "new"


# ---------------------------------------------------------------------------------- recovery


def test_recovery_round_trip_and_discard(tmp_path, image):
    store = RecoveryStore(tmp_path / "recovery")
    assert store.entries() == []
    mask = make_mask(3, (301, 419))  # odd width: bit packing must not pad the mask
    store.save(image, mask, {"edit_operations": 4, "note": "é"})
    other = tmp_path / "another image.png"
    store.save(other, np.zeros((5, 6), bool), {})
    entries = store.entries()
    assert len(entries) == 2
    entry = store.entry_for(image)
    assert entry is not None and entry.image_path == image.resolve()
    assert entry.meta == {"edit_operations": 4, "note": "é"}
    assert entry.shape == (301, 419) and entry.saved_at.endswith("Z")
    np.testing.assert_array_equal(store.load(entry), mask)
    # A newer save replaces the older one.
    mask2 = ~mask
    store.save(image, mask2, {"edit_operations": 5})
    assert len(store.entries()) == 2
    np.testing.assert_array_equal(store.load(store.entry_for(image)), mask2)
    store.discard(image)
    assert [e.image_path for e in store.entries()] == [other.resolve()]
    store.discard(image)  # discarding twice is harmless
    assert not [p for p in (tmp_path / "recovery").iterdir() if p.name.endswith(".tmp")]


def test_recovery_non_ascii_paths_and_damaged_file(tmp_path):
    store = RecoveryStore(tmp_path / "récupération dir")
    image = tmp_path / "Ünïcode folder" / "bild 皮膚 1.jpg"
    mask = np.zeros((40, 50), bool)
    mask[5:20, 7:33] = True
    store.save(image, mask, {"user": "Zoë"})
    (tmp_path / "récupération dir" / "garbage.png").write_bytes(b"not a png")
    entries = store.entries()
    assert len(entries) == 1 and entries[0].image_path == image.resolve()
    np.testing.assert_array_equal(store.load(entries[0]), mask)


def test_recovery_write_error(tmp_path, monkeypatch):
    store = RecoveryStore(tmp_path / "rec")
    monkeypatch.setattr(os, "replace",
                        lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    with pytest.raises(WriteError, match="disk is full"):
        store.save(tmp_path / "a.jpg", np.ones((4, 4), bool), {})
    monkeypatch.undo()
    assert store.entries() == []
    assert list((tmp_path / "rec").iterdir()) == []


def test_recovery_sweeps_stale_temp_files(tmp_path):
    store = RecoveryStore(tmp_path)
    store.save(tmp_path / "a.jpg", np.ones((3, 3), bool), {})
    # A write killed between temp file and rename leaves ".<name>.<random>.tmp".
    stale = tmp_path / ".abc.png.x1.tmp"
    fresh = tmp_path / ".abc.png.x2.tmp"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"partial")
    old = os.path.getmtime(stale) - 2 * 3600
    os.utime(stale, (old, old))
    assert len(store.entries()) == 1
    assert not stale.exists() and fresh.exists()


def test_save_label_sweeps_stale_temp_files(image):
    png, js = save_label(image, make_mask(0), meta_for(image))
    stale = png.parent / f".{png.name}.k1ll3d.tmp"
    fresh = png.parent / f".{js.name}.busy.tmp"
    other = png.parent / ".unrelated.png.old.tmp"
    for p in (stale, fresh, other):
        p.write_bytes(b"partial")
    old = os.path.getmtime(stale) - 2 * 3600
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    save_label(image, make_mask(1), meta_for(image))
    assert not stale.exists() and fresh.exists() and other.exists()


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_process_killed_between_write_and_rename_keeps_old_label(image, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    png, js = save_label(image, make_mask(0), meta_for(image))
    old = snapshot(png.parent)
    ready = tmp_path / "ready"
    script = f"""
import os, time, numpy as np
from pathlib import Path
from dermview.labels import LabelMeta, save_label
real_replace = os.replace
def stuck_replace(src, dst):
    if Path(dst).name != {png.name!r}:
        return real_replace(src, dst)  # backups go through
    Path({str(ready)!r}).write_text(src)
    time.sleep(60)
os.replace = stuck_replace
mask = np.ones((30, 40), bool)
save_label({str(image)!r}, mask, LabelMeta(image_sha256="x", image_size=(40, 30)))
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert ready.exists(), "the child never reached the rename"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    # The new data sits in a temp file; the label itself is the old one, byte for byte.
    temp = Path(ready.read_text())
    assert temp.exists() and temp.name.endswith(".tmp")
    after = snapshot(png.parent)
    assert [k for k in after if k.endswith(".tmp")] == [temp.name]
    assert {k: v for k, v in after.items() if not k.startswith((BACKUP_DIRNAME, "."))} == old
    assert png.read_bytes() == old[png.name] and js.read_bytes() == old[js.name]
    np.testing.assert_array_equal(load_label(image, (30, 40))[0], make_mask(0))


# --------------------------------------------------------------------------------------------
# Policy: which labels folder, which reference mask


def test_labels_dir_for_chosen_default_and_protected(tmp_path):
    from dermview.label_policy import labels_dir_for

    res, user = tmp_path / "res", tmp_path / "user" / "labels"
    (res / "samples").mkdir(parents=True)
    outside = tmp_path / "images" / "a.jpg"
    inside = res / "samples" / "b.jpg"
    assert labels_dir_for(outside, None, res, user) is None  # labels/ beside the image
    assert labels_dir_for(inside, None, res, user) == user  # never into the program folder
    assert labels_dir_for(inside, tmp_path / "mine", res, user) == tmp_path / "mine"
    assert labels_dir_for(outside, tmp_path / "mine", res, user) == tmp_path / "mine"


def test_reference_folder_and_find_reference(tmp_path):
    from dermview.label_policy import find_reference, reference_folder

    img = tmp_path / "IMD1.jpg"
    img.write_bytes(b"x")
    assert reference_folder(img, tmp_path / "refs", None) == tmp_path / "refs"
    assert reference_folder(img, None, None) == tmp_path  # ISIC layout beside the image
    assert reference_folder(img, None, tmp_path) is None  # labels saved beside: no reference
    assert find_reference(img, tmp_path) is None
    (tmp_path / "IMD1.png").write_bytes(b"x")  # beside the image only the ISIC name counts
    assert find_reference(img, tmp_path) is None
    (tmp_path / "IMD1_segmentation.png").write_bytes(b"x")
    assert find_reference(img, tmp_path) == tmp_path / "IMD1_segmentation.png"
    refs = tmp_path / "refs"
    refs.mkdir()
    (refs / "IMD1_mask.png").write_bytes(b"x")
    assert find_reference(img, refs) == refs / "IMD1_mask.png"
    assert find_reference(img, None) is None



def test_review_fields_and_extras_round_trip(tmp_path):
    img = tmp_path / "a.png"
    img.write_bytes(b"x")
    mask = np.zeros((4, 5), bool)
    mask[1:3, 1:4] = True
    meta = LabelMeta(image_sha256="0" * 64, image_size=(5, 4), review_state="accepted",
                     review_comment="fine as it is", extras={"area_mm2": 12.5})
    _png, js = save_label(img, mask, meta)
    d = json.loads(js.read_text())
    assert d["review_state"] == "accepted" and d["review_comment"] == "fine as it is"
    assert d["area_mm2"] == 12.5 and "extras" not in d  # extras are written flat
    back = LabelMeta.from_dict(d)
    assert back.review_state == "accepted" and back.extras == {"area_mm2": 12.5}
    with pytest.raises(ValueError, match="review_state"):
        LabelMeta(image_sha256="", image_size=(1, 1), review_state="looks ok")


def test_recovery_journal_keeps_edited_pixels_and_probability(tmp_path):
    store = RecoveryStore(tmp_path / "rec")
    img = tmp_path / "a.png"
    mask = np.zeros((6, 7), bool)
    mask[1:4, 2:5] = True
    edited = np.zeros_like(mask)
    edited[1, 2] = True
    prob = np.linspace(0, 1, 42, dtype=np.float32).reshape(6, 7)
    store.save_prob(img, prob)
    store.save(img, mask, {"threshold": 0.6}, edited=edited)
    (entry,) = store.entries()  # the side files are not entries of their own
    assert entry.meta == {"threshold": 0.6}
    assert np.array_equal(store.load(entry), mask)
    assert np.array_equal(store.load_edited(entry), edited)
    assert np.array_equal(store.load_prob(entry), prob)
    store.save_prob(img, None)
    store.save(img, mask)
    assert store.load_prob(entry) is None and store.load_edited(entry) is None
    store.discard(img)
    assert list((tmp_path / "rec").iterdir()) == []


def test_prob_map_beside_a_label_is_read_when_it_fits(tmp_path):
    from dermview.io import encode_png
    from dermview.prob_maps import load_prob_map, prob_map_path

    path = prob_map_path(tmp_path / "a.jpg")
    assert path == tmp_path / "labels" / "a_prob.png"
    assert load_prob_map(path, (4, 6)) is None               # none written
    path.parent.mkdir()
    path.write_bytes(encode_png(np.full((4, 6), 255, np.uint8)))
    assert np.array_equal(load_prob_map(path, (4, 6)), np.ones((4, 6), np.float32))
    assert load_prob_map(path, (6, 4)) is None               # another image's size
    path.write_bytes(b"not a png")
    assert load_prob_map(path, (4, 6)) is None


def test_label_fingerprint_follows_the_png_and_the_sidecar(tmp_path):
    from dermview import labels
    from dermview.label_watch import label_fingerprint

    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 10, 3), np.uint8)).save(img)
    assert label_fingerprint(img) is None
    mask = np.zeros((8, 10), bool)
    mask[2:5, 3:6] = True
    meta = labels.LabelMeta(image_sha256="0" * 64, image_size=(10, 8), source="manual")
    png, js = labels.save_label(img, mask, meta)
    first = label_fingerprint(img)
    assert first is not None and label_fingerprint(img) == first  # nothing changed
    side = json.loads(js.read_text())
    side["review_state"] = "accepted"
    js.write_text(json.dumps(side))
    assert label_fingerprint(img) not in (None, first)  # a verdict alone counts
    png.unlink()
    assert label_fingerprint(img) is None
