"""Findings of the docs-and-hair-removal trial (a new user reading the README first, then the
Preprocessing panel on hairy PH2 images), each driving the real window (pytest-qt,
offscreen)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("pytestqt")
from _gui import drag  # noqa: E402
from PySide6 import QtCore, QtWidgets  # noqa: E402

from dermview.gui.testing import process  # noqa: E402

pytest_plugins = ("_gui",)  # fixtures: weights, model_name, boxes, data, make_window


def test_shortcuts_list_names_each_action_once(make_window, data, qtbot):
    """Help → Keyboard shortcuts listed "Close polygon" (Return, Enter) and "Cancel" (Esc)
    twice: under Edit / Segmentation, and again in a "Tools" group at the end."""
    win = make_window([data / "IMD009.jpg"])
    qtbot.keyClick(win, QtCore.Qt.Key.Key_F1)
    table = win.shortcuts_dialog.table
    rows = [(table.item(r, 0).text().strip(), table.item(r, 1).text())
            for r in range(table.rowCount())
            if table.item(r, 1) is not None and table.item(r, 1).text()]
    doubles = sorted({row for row in rows if rows.count(row) > 1})
    assert doubles == []
    assert ("Close polygon", "Return, Enter") in rows and ("Cancel", "Esc") in rows  # once


_KEY = re.compile(r"^((Ctrl|Shift|Alt)\+)*([A-Z0-9,.\[\]+-]|F\d{1,2}|Esc|Del|PgUp|PgDown|Return|"
                  r"Enter)$")


def test_readme_names_every_shortcut_of_the_shortcuts_list(make_window, data):
    """The README's Desktop app section says where each shortcut is, but H (Pan), V (show
    mask), Ctrl+O / Ctrl+Shift+O, Ctrl+Q, Ctrl+Y, Ctrl++ / Ctrl+-, Ctrl+0 / Ctrl+1, Ctrl+D and
    Ctrl+P of Help → Keyboard shortcuts were in no part of it; every key the README's app
    section names is a real shortcut."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    quoted = set(re.findall(r"`([^`\s]+)`", readme))
    if "`Alt+1` … `Alt+8`" in readme:
        quoted.update(f"Alt+{i}" for i in range(1, 9))
    win = make_window([data / "IMD009.jpg"])
    dlg = win.show_shortcuts()
    table, keys, group = dlg.table, set(), ""
    for r in range(table.rowCount()):
        if table.item(r, 1) is None:
            group = table.item(r, 0).text()
        elif group != "Mouse":
            keys.update(k.strip() for k in table.item(r, 1).text().split(", ") if k.strip())
    dlg.close()
    assert sorted(k for k in keys if k not in quoted) == []
    gui = readme[readme.index("<!-- section:gui -->"):readme.index("<!-- /section:gui -->")]
    named = {k for k in re.findall(r"`([^`\s]+)`", gui) if _KEY.match(k)}
    assert sorted(named - keys) == []


def test_preprocessing_note_names_settings_as_the_form_does(make_window, data):
    """After moving Hair sensitivity to 0.80 the panel said "Preview only: differs from the
    model's preprocessing (hair_sensitivity 0.8 (model 0.5))": the code's field name, not the
    control's label a dermatologist just used."""
    win = make_window([data / "IMD009.jpg"])
    panel = win.panel
    model = panel.model_params.hair_sensitivity if panel.model_params else 0.5
    panel.sens_slider.setValue(80)
    assert win.wait_idle(30)
    note = panel.model_note.text()
    assert f"Hair sensitivity 0.80 (model's {model:.2f})" in note
    assert "_" not in note
    panel.hair_check.setChecked(False)
    assert "Remove hair off (model's on)" in panel.model_note.text()


def test_element_b_says_what_it_changes(make_window, data):
    """The README and the method call the closing's element B, the panel "Element shape" /
    "Element size" with the tooltips "Structuring element of the morphological closing" and
    "Element size in pixels at 512 px image scale": nothing said what a larger one does."""
    win = make_window([data / "IMD009.jpg"])
    panel = win.panel
    form = panel.layout()
    assert form.labelForField(panel.se_shape).text() == "Element B shape"
    assert form.labelForField(panel.se_size).text() == "Element B size"
    tip = panel.se_size.toolTip()
    assert "wide is found" in tip and "thicker hair" in tip and "lesion texture" in tip
    assert panel.se_shape.toolTip().startswith("B, the shape")


def test_readme_preprocessing_panel_names_its_controls_and_the_sidecar(
        make_window, data, qtbot):
    """The README's Preprocessing panel paragraph had no Hair sensitivity, and said the
    label's sidecar "records it": it records what the mask was segmented with, which is the
    slider's value only with "Use these settings for segmentation"."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("* **Preprocessing** panel:")
    para = " ".join(readme[start:readme.index("\n* **", start + 1)].split())
    win = make_window([data / "IMD009.jpg"])
    panel, form = win.panel, win.panel.layout()
    names = [form.itemAt(i).widget().text() for i in range(form.count())
             if isinstance(form.itemAt(i).widget(), (QtWidgets.QLabel, QtWidgets.QCheckBox))
             and form.itemAt(i).widget() not in (panel.model_note, panel.result_label)]
    names += [panel.show_frame.text(), panel.show_hair.text()]
    assert "Hair sensitivity" in names
    assert [n for n in names if f"*{n}*" not in para] == []
    assert "`preprocess_params`" in para and "Use these settings for segmentation" in para
    # What it says of the sidecar: a slider moved for the preview only is not what it records.
    model = panel.model_params.hair_sensitivity if panel.model_params else None
    panel.sens_slider.setValue(90)
    win.segmenter.run()
    assert win.wait_idle(60) and win.doc.prob is not None
    win.set_tool("brush")
    drag(qtbot, win.before, [(30.5, 30.5), (60.5, 30.5)])
    qtbot.keyClick(win, QtCore.Qt.Key.Key_S, QtCore.Qt.KeyboardModifier.ControlModifier)
    meta = json.loads((data / "labels" / "IMD009_segmentation.json").read_text())
    used = meta["preprocess_params"]
    assert (used or {}).get("hair_sensitivity") == model


@pytest.mark.parametrize("zoom", ["ctrl_plus", "one_to_one"])
def test_t_shows_the_preprocessed_image_in_the_same_place_and_zoom(
        make_window, data, qtbot, zoom):
    """README: "`T` switches to the preprocessed image in the same place and zoom". Zoomed in
    on the original (Ctrl++ or 1 = actual pixels) in the one large view, T showed the
    preprocessed image fitted to the window: the hair one was looking at was elsewhere."""
    win = make_window([data / "IMD009.jpg"])
    win.show()
    qtbot.waitExposed(win)
    win.view.set_side_by_side(False)
    pane = win.view.shown()
    assert pane is win.before
    pane.setFocus()
    if zoom == "ctrl_plus":
        for _ in range(2):
            qtbot.keyClick(pane.viewport(), QtCore.Qt.Key.Key_Plus,
                           QtCore.Qt.KeyboardModifier.ControlModifier)
    else:
        qtbot.keyClick(pane.viewport(), QtCore.Qt.Key.Key_1)
    assert not pane.auto_fit
    rect = pane.vb.viewRect()
    qtbot.keyClick(pane.viewport(), QtCore.Qt.Key.Key_T)
    assert win.view.shown() is win.after
    qtbot.waitExposed(win.after)
    process(100)
    got = win.after.vb.viewRect()
    for a, b in ((got.center().x(), rect.center().x()), (got.center().y(), rect.center().y()),
                 (got.width(), rect.width()), (got.height(), rect.height())):
        assert a == pytest.approx(b, abs=1.0), (got, rect)
    qtbot.keyClick(win.after.viewport(), QtCore.Qt.Key.Key_T)  # and back again
    assert win.view.shown() is win.before
    process(100)
    back = win.before.vb.viewRect()
    assert back.width() == pytest.approx(rect.width(), abs=1.0)


def test_hair_removal_off_is_not_shown_as_no_hair_found(make_window, data):
    """With Remove hair unticked the result line said "Hair count N = 0 · repair: none" on
    IMD009 (dozens of hairs): as if none had been found, where none had been looked for."""
    win = make_window([data / "IMD009.jpg"])
    panel = win.panel
    assert "Hair count N = <b>" in panel.result_label.text()
    panel.hair_check.setChecked(False)
    assert win.wait_idle(30) and not win.doc.preview_params.remove_hair
    text = panel.result_label.text()
    assert "Hair count" not in text and "Hair removal <b>off</b>" in text
    panel.hair_check.setChecked(True)
    assert win.wait_idle(30)
    assert f"Hair count N = <b>{win.doc.preview.hair_count}</b>" in panel.result_label.text()


def test_segmenting_keeps_the_preview_of_the_panels_settings(make_window, data):
    """Hair sensitivity moved to 1 for the preview only (IMD009: N = 13, PDE), then Segment:
    the Preprocessed view, the hair overlay and the line went back to the model's
    preprocessing (N = 6, bilinear, the thin hairs back) while the panel still said 1.00."""
    win = make_window([data / "IMD009.jpg"])
    panel = win.panel
    panel.sens_slider.setValue(100)
    assert win.wait_idle(30) and not panel.use_check.isChecked()
    preview = win.doc.preview
    assert win.doc.preview_params == panel.params()
    win.segmenter.run()
    assert win.wait_idle(60) and win.doc.prob is not None
    model = panel.model_params
    assert win.doc.model.params == (model.to_dict() if model is not None else None)  # as before
    assert win.doc.preview_params == panel.params()  # what the panel shows, still
    assert win.doc.preview is preview
    assert f"N = <b>{preview.hair_count}</b>" in panel.result_label.text()
    # With "Use these settings for segmentation" the model's input is the preview's.
    panel.use_check.setChecked(True)
    win.segmenter.run()
    assert win.wait_idle(60)
    assert win.doc.model.params == panel.params().to_dict()
    assert win.doc.preview_params == panel.params()


def test_a_model_chosen_in_the_app_gets_its_own_preprocessing(make_window, data):
    """README: "the model always gets the preprocessing it was trained with (from its
    metadata)". Switched to dermsegnet-w48 (trained on raw images) in Model → Models…, the
    app segmented it after the bundled model's frame and hair removal, the panel saying
    "= the model's preprocessing"."""
    from dermview import paths
    from dermview.model.weights import read_metadata
    from dermview.segmentation import model_preprocess_params

    raw = paths.models_dir() / "dermsegnet_w48.pt"
    if not raw.is_file() or model_preprocess_params(read_metadata(raw)) is not None:
        pytest.skip("needs the bundled dermsegnet_w48 (trained on raw images)")
    win = make_window([data / "IMD009.jpg"])
    first = win.panel.model_params
    win.models.use_model(raw)
    assert win.panel.model_params is None
    assert "model's off" in win.panel.model_note.text()  # frame and hair: the model has none
    win.segmenter.run()
    assert win.wait_idle(120) and win.doc.prob is not None
    assert win.doc.model.name == read_metadata(raw)["name"]
    assert win.doc.model.params is None  # raw images, as it was trained
    win.doc.undo_stack.setClean()
    win.models.use_model(None)  # back to the bundled model: its preprocessing again
    assert win.panel.model_params == first
    assert win.panel.params() == (first or win.panel.params())
    if first is not None:
        assert win.panel.model_note.text() == "= the model's preprocessing"
