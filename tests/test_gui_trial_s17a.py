"""Trial S17A (an annotator fixing ~30 machine masks a day) replayed on the real window
(offscreen)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("pytestqt")
from _gui import SAMPLES  # noqa: E402
from PIL import Image  # noqa: E402

pytest_plugins = ("_gui",)  # fixtures: weights, boxes, data, make_window


@pytest.fixture
def big_and_small(tmp_path):
    """IMD002 (512 px long side), a 4× copy of it (2048 px) and a half-size one (256 px)."""
    folder = tmp_path / "study"
    folder.mkdir()
    rgb = Image.open(SAMPLES / "IMD002.jpg").convert("RGB")
    rgb.save(folder / "small.png")
    rgb.resize((rgb.width * 4, rgb.height * 4)).save(folder / "big.png")
    rgb.resize((rgb.width // 2, rgb.height // 2)).save(folder / "tiny.png")
    return folder


def test_default_brush_is_not_a_hairline_after_a_big_first_image(make_window, big_and_small):
    """Trial finding: the study folder opened on a 4000-px image first; every 256-px and
    512-px image after it had a 1-2 px brush (the default 15 px was taken as chosen on the
    first image, whatever its size, and scaled down for the small ones)."""
    win = make_window([str(big_and_small / "big.png")])
    assert win.edit.radius == 60  # 15 px at 512 px long side = the same share of 2048 px
    win.session.open_paths([str(big_and_small / "small.png")])
    assert win.wait_idle(30)
    assert win.edit.radius == 15
    assert win.tools_panel.radius_spin.value() == 15


def test_remembered_brush_keeps_its_share_of_the_image(make_window, big_and_small):
    """Trial finding: the brush size remembered for the next start was the pixel radius on
    the last image, without its size: 30 px chosen on 512-px images, a 256-px image last,
    came back as 15 px chosen on the first image of the next start (a quarter of the share
    on a 2048-px image; after a 4000-px image first, a 1-2 px brush everywhere)."""
    win = make_window([str(big_and_small / "small.png")])
    win.edit.set_radius(30)
    win.session.open_paths([str(big_and_small / "tiny.png")])
    assert win.wait_idle(30)
    assert win.edit.radius == 15
    win.close()
    again = make_window([str(big_and_small / "big.png")])
    assert again.edit.radius == 120
    again.session.open_paths([str(big_and_small / "small.png")])
    assert again.wait_idle(30)
    assert again.edit.radius == 30
    assert again.tools_panel.radius_spin.value() == 30
