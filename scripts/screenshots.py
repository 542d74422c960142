"""Render the app's main states into ``docs/screenshots/*.png`` (offscreen, real widgets).

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--out docs/screenshots]

Uses the bundled samples (copied to a temporary folder, so labels are written there) and the
bundled model; settings and autosaves go to the temporary folder too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLES = ROOT / "resources" / "samples"
STEMS = ["IMD002", "IMD009", "ISIC_0000095", "ISIC_0024311"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--weights", default=None)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from PySide6 import QtCore, QtGui, QtWidgets

    from dermview.gui.app import create_main_window, ensure_app
    from dermview.gui.testing import isolate, process

    with tempfile.TemporaryDirectory(prefix="dermview_shots_") as d:
        tmp = Path(d)
        images = tmp / "images"
        images.mkdir()
        for stem in STEMS:
            shutil.copy(SAMPLES / f"{stem}.jpg", images / f"{stem}.jpg")
        refs = tmp / "reference"
        refs.mkdir()
        for stem in STEMS:
            shutil.copy(SAMPLES / f"{stem}_segmentation.png", refs / f"{stem}_segmentation.png")
        settings = isolate(tmp)
        ensure_app()
        QtWidgets.QMessageBox.question = staticmethod(  # never block on a prompt
            lambda *a, **k: QtWidgets.QMessageBox.StandardButton.Discard)
        win = create_main_window(None, weights=args.weights, settings=settings,
                                 recovery_folder=tmp / "rec")
        win.resize(1500, 900)
        win.session.set_reference_dir(refs)
        process(100)

        def shot(name: str, widget: QtWidgets.QWidget | None = None) -> None:
            process(400)
            (widget or win).grab().save(str(out / f"{name}.png"))
            print("wrote", out / f"{name}.png")

        # 1. Opened hairy image with the frame and hair maps over the original.
        win.session.open_image(images / "IMD009.jpg")
        win.wait_idle(60)
        win.panel.show_frame.setChecked(True)
        win.panel.show_hair.setChecked(True)
        win.docks["worklist"].hide()
        win.docks["history"].hide()
        shot("1_preprocessing")
        win.panel.show_frame.setChecked(False)
        win.panel.show_hair.setChecked(False)

        # 2. Segmented: overlay + reference outline + Dice/Jaccard, heat map on.
        win.segmenter.run()
        win.wait_idle(120)
        win.seg_panel.outline_radio.setChecked(True)
        win.seg_panel.heat_check.setChecked(True)
        win.after.set_title("Preprocessed · heat map + mask outline")
        shot("2_segmented")
        win.seg_panel.heat_check.setChecked(False)

        # 3. Editing: outline display, brush strokes, brush cursor, history.
        win.docks["history"].show()
        win.seg_panel.filled_radio.setChecked(True)
        win.after.set_title("Preprocessed")
        win.set_tool("brush")
        win.edit.set_radius(12)
        pane = win.before
        vp = pane.viewport()

        def mouse(kind, x, y, buttons):
            p = pane.view_to_widget(x, y)
            btn = QtCore.Qt.MouseButton.LeftButton if kind != QtCore.QEvent.Type.MouseMove \
                else QtCore.Qt.MouseButton.NoButton
            ev = QtGui.QMouseEvent(kind, QtCore.QPointF(p), QtCore.QPointF(vp.mapToGlobal(p)),
                                   btn, buttons, QtCore.Qt.KeyboardModifier.NoModifier)
            QtWidgets.QApplication.sendEvent(vp, ev)

        left = QtCore.Qt.MouseButton.LeftButton
        def stroke(pts):
            mouse(QtCore.QEvent.Type.MouseButtonPress, *pts[0], left)
            for x, y in pts[1:]:
                mouse(QtCore.QEvent.Type.MouseMove, x, y, left)
                process(5)
            mouse(QtCore.QEvent.Type.MouseButtonRelease, *pts[-1],
                  QtCore.Qt.MouseButton.NoButton)

        stroke([(330 + 8 * i, 240 - 30 * (i / 10) ** 2) for i in range(11)])  # add a lobe
        win.set_tool("eraser")
        win.edit.set_radius(8)
        stroke([(140 + 7 * i, 225 + 1 * i) for i in range(11)])  # cut a notch
        win.edit.smooth()
        mouse(QtCore.QEvent.Type.MouseMove, 212, 236, QtCore.Qt.MouseButton.NoButton)
        shot("3_editing")

        # 4. Worklist of a folder with some images labelled.
        win.saving.save()
        win.set_tool("pan")
        win.session.open_folder(images)
        win.wait_idle(60)
        win.segmenter.run()
        win.wait_idle(120)
        win.saving.save()
        win.seg_panel.filled_radio.setChecked(True)
        win.session.open_image(images / "ISIC_0024311.jpg")
        win.wait_idle(60)
        win.segmenter.run()
        win.wait_idle(120)
        win.docks["worklist"].show()
        win.seg_panel.outline_radio.setChecked(True)
        win.seg_panel.diff_check.setChecked(True)  # disagreement with the reference mask
        shot("4_worklist")

        # 5. Help → Keyboard shortcuts.
        dlg = win.show_shortcuts()
        dlg.resize(520, 760)
        shot("5_shortcuts", dlg)
        dlg.close()
        win.doc.undo_stack.setClean()
        win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
