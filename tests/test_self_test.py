"""``dermview self-test``: passes on the bundled model, fails loudly on what it must catch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from _weights import make_weights  # noqa: E402

from dermview.cli import main  # noqa: E402
from dermview.commands import self_test  # noqa: E402
from dermview.model import weights as wmod  # noqa: E402
from dermview.paths import samples_dir  # noqa: E402

HAVE_MODEL = wmod.DEFAULT_WEIGHTS.is_file()
needs_model = pytest.mark.skipif(not HAVE_MODEL, reason="bundled model not committed yet")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _resources_with(tmp_path: Path, monkeypatch, weights_src: Path | None = None) -> Path:
    """A resources folder with the real samples and a model of the test's choosing."""
    res = tmp_path / "resources"
    shutil.copytree(samples_dir(), res / "samples")
    (res / "models").mkdir()
    monkeypatch.setenv("DERMVIEW_RESOURCES", str(res))
    target = res / "models" / "dermview_default.pt"
    monkeypatch.setattr(wmod, "DEFAULT_WEIGHTS", target)
    monkeypatch.setattr(wmod, "DEFAULT_METADATA", target.with_suffix(".json"))
    if weights_src is not None:
        for suffix in (".pt", ".json", ".onnx"):
            if weights_src.with_suffix(suffix).is_file():
                shutil.copy(weights_src.with_suffix(suffix), target.with_suffix(suffix))
    return target


@needs_model
def test_self_test_passes_on_bundled_model(tmp_path, capsys):
    report = tmp_path / "report.json"
    rc = main(["self-test", "--no-gui", "--json", str(report)])
    out = capsys.readouterr().out
    assert rc == 0, out
    data = json.loads(report.read_text())
    assert data["ok"] and data["dice"] >= self_test.MIN_DICE
    assert [c["name"] for c in data["checks"]] == ["weights", "preprocess", "segment", "engine",
                                                   "features"]
    assert data["weights_sha256"] == wmod.sha256_file(wmod.DEFAULT_WEIGHTS)
    assert data["engine"] == "onnx"  # the CPU default for a model with an export
    engine = {c["name"]: c for c in data["checks"]}["engine"]["detail"]
    assert "vs torch" in engine and "masks identical" in engine
    features = {c["name"]: c for c in data["checks"]}["features"]["detail"]
    assert "JPEG 2000 + JPEG-LS + SEG read back exactly" in features and "PDF report" in features
    assert "PASS: 5/5" in out


@needs_model
def test_features_check_fails_when_a_codec_is_missing(monkeypatch):
    """The features check really depends on the DICOM codecs (as the frozen app must)."""
    from pydicom.pixels.encoders.base import Encoder

    st = self_test.SelfTest(self_test.DEFAULT_SAMPLE, self_test.MIN_DICE, "cpu")
    st.preprocess()
    st.segment()

    def no_codec(*_a, **_k):
        raise RuntimeError("no plugin")

    monkeypatch.setattr(Encoder, "encode", no_codec)
    monkeypatch.setattr(Encoder, "iter_encode", no_codec)
    check = self_test._run_check("features", st.features)
    assert not check.ok


@needs_model
def test_altered_weights_fail(tmp_path, monkeypatch, capsys):
    target = _resources_with(tmp_path, monkeypatch, wmod.DEFAULT_WEIGHTS)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    rc = main(["self-test", "--no-gui", "--engine", "torch"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "[FAIL] weights" in out and "SHA-256" in out
    assert "[FAIL] segment" in out  # the altered model is never loaded


@needs_model
def test_altered_onnx_export_fails(tmp_path, monkeypatch, capsys):
    target = _resources_with(tmp_path, monkeypatch, wmod.DEFAULT_WEIGHTS).with_suffix(".onnx")
    data = bytearray(target.read_bytes())
    data[len(data) // 3] ^= 0x01
    target.write_bytes(bytes(data))
    rc = main(["self-test", "--no-gui"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "[FAIL] weights" in out and "dermview_default.onnx does not match" in out
    assert "[FAIL] segment" in out and "[FAIL] engine" in out


def test_untrained_model_fails_the_dice_bound(tmp_path, monkeypatch, capsys):
    target = _resources_with(tmp_path, monkeypatch)
    make_weights(target.parent, target.stem, name="untrained", preprocess=False)
    report = tmp_path / "r.json"
    rc = main(["self-test", "--no-gui", "--json", str(report)])
    out = capsys.readouterr().out
    data = json.loads(report.read_text())
    assert rc == 1, out
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["weights"]["ok"] and checks["preprocess"]["ok"]
    assert not checks["segment"]["ok"] and data["dice"] < self_test.MIN_DICE
    assert "FAIL: 4/5" in out  # features runs on the (poor) mask all the same


def test_unknown_sample_is_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(wmod, "DEFAULT_WEIGHTS", tmp_path / "missing.pt")
    monkeypatch.setattr(wmod, "DEFAULT_METADATA", tmp_path / "missing.json")
    rc = main(["self-test", "--no-gui", "--sample", "NOPE"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "[FAIL] weights" in out and "not found" in out
    assert "[FAIL] preprocess" in out and "IMD009" in out  # lists the bundled samples


def test_min_dice_must_be_a_fraction(capsys):
    with pytest.raises(SystemExit):
        main(["self-test", "--min-dice", "1.5"])
    assert "between 0 and 1" in capsys.readouterr().err


def test_self_test_is_a_registered_command():
    out = subprocess.run([sys.executable, "-m", "dermview", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "self-test" in out


def test_help_says_how_to_open_the_app_on_a_folder(capsys):
    """Trial finding: 'dermview --help' listed the commands only ('usage: dermview [-h]
    [--version] COMMAND ...'), so a new user could not learn from it that 'dermview FOLDER'
    opens the app on a worklist, nor --device / --weights; the commands' usage lines stay
    'dermview <command> ...'."""
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: dermview [IMAGE_OR_DIR ...]")
    assert "desktop app:" in out and "worklist" in out
    assert "--device auto|cpu|cuda" in out and "--weights PT" in out
    with pytest.raises(SystemExit):
        main(["segment", "--help"])
    assert capsys.readouterr().out.startswith("usage: dermview segment [-h]")


@needs_model
def test_window_check_passes_offscreen(monkeypatch, capsys):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    rc = main(["self-test"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "[ ok ] gui" in out and "Qt platform: offscreen" in out and "PASS: 6/6" in out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 display check")
def test_window_check_reports_an_unusable_display(monkeypatch, capsys):
    """Qt aborts the process when its platform plugin cannot start; the self-test survives
    (the window opens in a child process) and reports it."""
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setenv("DISPLAY", ":93517")
    monkeypatch.setattr(wmod, "DEFAULT_WEIGHTS", Path("/nonexistent/dermview_default.pt"))
    rc = main(["self-test"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "[FAIL] gui" in out and "could not open" in out and "INSTALL.md" in out


@needs_model
def test_window_check_starts_first_and_reports_its_own_time(monkeypatch, tmp_path):
    """The window process is started before the other checks (it runs alongside them); the
    gui check's seconds are that process's wall time, not the wait at the end."""
    from dermview.commands import self_test

    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    order: list[str] = []
    real_init, real_weights = self_test.GuiChild.__init__, self_test.SelfTest.weights
    monkeypatch.setattr(self_test.GuiChild, "__init__",
                        lambda self, *a: (order.append("gui started"), real_init(self, *a))[1])
    monkeypatch.setattr(self_test.SelfTest, "weights",
                        lambda self: (order.append("weights"), real_weights(self))[1])
    report = tmp_path / "r.json"
    assert main(["self-test", "--json", str(report)]) == 0
    assert order == ["gui started", "weights"]
    checks = {c["name"]: c for c in json.loads(report.read_text())["checks"]}
    others = sum(c["seconds"] for n, c in checks.items() if n != "gui")
    assert checks["gui"]["ok"] and 0.2 < checks["gui"]["seconds"] < 120
    assert json.loads(report.read_text())["seconds"] < others + checks["gui"]["seconds"]
