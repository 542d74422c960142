"""Reading the next worklist image ahead: the core (:mod:`dermview.image_prefetch`) and the
window's PgDown, which no longer decodes on the GUI thread an image read while the one
before was shown; a file changed since it was read ahead is read again."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from dermview.image_prefetch import ImagePrefetch
from dermview.io import load_image, load_image_info
from dermview.labels import image_sha256

pytest_plugins = ("_gui",)  # fixtures: weights, model_name, boxes, data, make_window


def _replace(path, source) -> None:
    """Overwrite ``path`` with ``source``'s bytes, its modification time moved on."""
    shutil.copy(source, path)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


def test_an_image_read_ahead_is_the_file_as_read_now(samples_dir, tmp_path):
    path = tmp_path / "a.jpg"
    shutil.copy(samples_dir / "IMD009.jpg", path)
    ahead = ImagePrefetch()
    ahead.start(path)
    got = ahead.take(path)
    image, info = load_image_info(path)
    assert got is not None and got.sha256 == image_sha256(path) and got.info == info
    np.testing.assert_array_equal(got.image, image)
    assert ahead.take(path) is None  # handed over once, not held


def test_nothing_is_handed_over_for_another_changed_or_unreadable_file(samples_dir, tmp_path):
    a, b, bad = tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "bad.jpg"
    shutil.copy(samples_dir / "IMD009.jpg", a)
    shutil.copy(samples_dir / "IMD002.jpg", b)
    bad.write_bytes(b"not a jpeg")
    ahead = ImagePrefetch()
    ahead.start(a)
    assert ahead.take(b) is None  # another image: the caller reads it
    ahead.start(a)
    ahead.start(b)  # moved on: a's read is dropped
    assert ahead.take(a) is None
    ahead.start(a)
    while ahead.running():
        pass
    _replace(a, samples_dir / "IMD002.jpg")  # replaced after it was read ahead
    assert ahead.take(a) is None
    ahead.start(bad)
    assert ahead.take(bad) is None  # the caller's own read gives the reason
    ahead.start(tmp_path / "missing.jpg")
    assert ahead.take(tmp_path / "missing.jpg") is None


@pytest.mark.parametrize("changed", [False, True], ids=["same", "replaced"])
def test_page_down_opens_the_image_read_ahead(make_window, data, monkeypatch, samples_dir,
                                              qtbot, changed):
    win = make_window([data])
    assert win.doc.path.name == "IMD002.jpg"
    nxt = data / "IMD009.jpg"
    assert win.wait_idle(60)  # IMD009 is read once the window is idle, IMD002 shown
    qtbot.waitUntil(lambda: win.session.prefetch.running() or win.session.prefetch.holds(nxt))
    while win.session.prefetch.running():
        pass
    if changed:
        _replace(nxt, samples_dir / "IMD002.jpg")
    reads = []
    import dermview.gui.document as document

    def counted(path):
        reads.append(path)
        return load_image_info(path)

    monkeypatch.setattr(document, "load_image_info", counted)
    assert win.session.next_image() and win.doc.path == nxt
    assert len(reads) == int(changed)  # not decoded again on the GUI thread (unless changed)
    np.testing.assert_array_equal(win.doc.image, load_image(nxt))
    assert win.doc.image_sha256() == image_sha256(nxt)


def test_a_dicom_read_ahead_imports_pydicom_in_the_callers_thread_first(samples_dir, tmp_path,
                                                                        monkeypatch):
    """Trial S17B: two threads importing pydicom for the first time at once can see a
    half-initialised module (a batch skipped every image); the window's own thread imports
    it too (a DICOM SEG export), so the read ahead of a DICOM file imports it first, here."""
    import threading

    from _dicom import dicom_bytes

    import dermview.dicom_preload as preload

    dcm, jpg = tmp_path / "case.dcm", tmp_path / "case.jpg"
    dcm.write_bytes(dicom_bytes(load_image(samples_dir / "IMD009.jpg")))
    shutil.copy(samples_dir / "IMD009.jpg", jpg)
    threads = []
    monkeypatch.setattr(preload, "preload_dicom",
                        lambda writes_seg=False: threads.append(threading.current_thread()))
    ahead = ImagePrefetch()
    ahead.start(jpg)
    assert ahead.take(jpg) is not None and threads == []  # not for a JPEG
    ahead.start(dcm)
    got = ahead.take(dcm)
    assert threads == [threading.main_thread()]
    np.testing.assert_array_equal(got.image, load_image(dcm))
