"""Engine layer: ONNX Runtime and torch give the same masks, files are verified, the choice
follows engine + device, the export script, lazy imports, and the engine in the sidecar."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from _weights import make_weights  # noqa: E402

from dermview.errors import DeviceError, ModelError, WeightsError  # noqa: E402
from dermview.io import load_image  # noqa: E402
from dermview.model import engines, inference  # noqa: E402
from dermview.model import weights as wmod  # noqa: E402
from dermview.model.engines import load_engine, resolve_engine  # noqa: E402
from dermview.model.inference import Segmenter  # noqa: E402
from dermview.model.weights import read_metadata, verify_weights  # noqa: E402
from dermview.segmentation import segment_image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "resources" / "samples"
MODELS = ROOT / "resources" / "models"
SHIPPED = sorted(p for p in MODELS.glob("*.json") if "onnx" in json.loads(p.read_text())
                 and json.loads(p.read_text()).get("arch") != "lesionhead")  # segmenters


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _copy_model(stem: str, folder: Path) -> Path:
    for suffix in (".pt", ".json", ".onnx"):
        shutil.copy(MODELS / f"{stem}{suffix}", folder / f"{stem}{suffix}")
    return folder / f"{stem}.json"


def test_both_shipped_models_have_a_verified_export():
    assert {p.stem for p in SHIPPED} >= {"dermview_default", "dermsegnet_w48"}
    for meta_file in SHIPPED:
        meta = wmod.read_metadata_file(meta_file)
        path, _data, sha = wmod.read_onnx(meta_file, meta)
        assert path == meta_file.with_suffix(".onnx") and sha == meta["onnx"]["sha256"]
        assert meta["onnx"]["source_sha256"] == wmod.sha256_file(meta_file.with_suffix(".pt"))
        size = meta["input_size"]
        assert meta["onnx"]["input_shape"] == ["batch", 3, size, size]  # static height/width


@pytest.mark.parametrize("meta_file", SHIPPED, ids=lambda p: p.stem)
def test_engines_agree_on_the_bundled_samples(meta_file):
    """Probabilities within 1e-4 and identical masks, with the app's whole chain."""
    onnx = Segmenter.load(meta_file, device="cpu", engine="onnx", threads=1)
    tch = Segmenter.load(meta_file, device="cpu", engine="torch", threads=1)
    assert (onnx.engine_name, tch.engine_name) == ("onnx", "torch")
    assert onnx.weights_sha256 == tch.weights_sha256  # the same model, two engines
    images = sorted(SAMPLES.glob("*.jpg"))
    assert len(images) == 4
    for img in images:
        rgb = load_image(img)
        a, b = segment_image(rgb, onnx), segment_image(rgb, tch)
        assert np.abs(a.prob - b.prob).max() < 1e-4, img.name
        np.testing.assert_array_equal(a.mask, b.mask)
        assert a.mask.any()
        assert np.abs(onnx.predict(rgb, tta=True) - tch.predict(rgb, tta=True)).max() < 1e-4


def test_load_engine_api_runs_a_batch():
    meta_file = MODELS / "dermview_default.json"
    eng = load_engine(meta_file, engine="onnx", device="cpu", threads=1)
    assert (eng.name, eng.device, eng.threads) == ("onnx", "cpu", 1)
    assert eng.file == MODELS / "dermview_default.onnx" and len(eng.sha256) == 64
    x = np.random.default_rng(0).standard_normal((2, 3, 256, 256), dtype=np.float32)
    out = eng.run(x)
    assert out.shape == (2, 1, 256, 256) and out.dtype == np.float32
    ref = load_engine(meta_file.with_suffix(".pt"), engine="torch", device="cpu", threads=1)
    assert ref.file == MODELS / "dermview_default.pt"
    assert np.abs(ref.run(x) - out).max() < 1e-3  # logits; probabilities are tighter
    with pytest.raises(ValueError, match="takes"):
        eng.run(np.zeros((1, 3, 320, 320), np.float32))  # the export is static at 256 px


def test_altered_onnx_refused(tmp_path):
    meta_file = _copy_model("dermview_default", tmp_path)
    onnx = meta_file.with_suffix(".onnx")
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0x01
    onnx.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="SHA-256"):
        Segmenter.load(meta_file.with_suffix(".pt"), device="cpu")
    # the torch engine does not need the export
    assert Segmenter.load(meta_file.with_suffix(".pt"), engine="torch").engine_name == "torch"


def test_export_of_other_weights_refused(tmp_path):
    meta_file = _copy_model("dermview_default", tmp_path)
    meta = json.loads(meta_file.read_text())
    meta["onnx"]["source_sha256"] = "0" * 64
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="exported from other weights"):
        load_engine(meta_file, engine="onnx")


@pytest.mark.parametrize("name", ["../dermview_default.onnx", "/tmp/x.onnx", "model.bin", 7])
def test_malformed_onnx_entry_refused(tmp_path, name):
    meta_file = _copy_model("dermview_default", tmp_path)
    meta = json.loads(meta_file.read_text())
    meta["onnx"]["file"] = name
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="malformed"):
        load_engine(meta_file, engine="onnx")


def test_onnx_only_install_loads_without_the_pt(tmp_path):
    meta_file = _copy_model("dermview_default", tmp_path)
    meta_file.with_suffix(".pt").unlink()
    seg = Segmenter.load(meta_file.with_suffix(".pt"), device="auto")
    assert seg.engine_name == "onnx" and seg.weights_sha256 == json.loads(
        meta_file.read_text())["sha256"]
    with pytest.raises(WeightsError, match="not found"):
        Segmenter.load(meta_file.with_suffix(".pt"), engine="torch")
    # the GUI reads the metadata through the .pt path (the packaged app ships no .pt) ...
    assert read_metadata(meta_file.with_suffix(".pt"))["sha256"] == seg.weights_sha256
    with pytest.raises(WeightsError, match="not found"):  # ... but hashing it still needs it
        verify_weights(meta_file.with_suffix(".pt"))
    meta = json.loads(meta_file.read_text())
    del meta["onnx"]  # metadata without an export: the missing .pt is an error again
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="not found"):
        read_metadata(meta_file.with_suffix(".pt"))


def test_engine_choice(monkeypatch):
    meta = {"onnx": {"file": "m.onnx"}}
    monkeypatch.setattr(engines, "cuda_available", lambda: False)
    assert resolve_engine("auto", "auto", meta) == ("onnx", "cpu")
    assert resolve_engine("auto", "cpu", meta) == ("onnx", "cpu")
    assert resolve_engine("auto", "cpu", {}) == ("torch", "cpu")  # no export: torch
    assert resolve_engine("torch", "cpu", meta) == ("torch", "cpu")
    with pytest.raises(DeviceError, match="CPU only"):
        resolve_engine("onnx", "cuda", meta)
    with pytest.raises(DeviceError, match="CUDA"):
        resolve_engine("auto", "cuda", meta)
    with pytest.raises(ModelError, match="Unknown engine"):
        resolve_engine("tensorrt", "cpu", meta)
    with pytest.raises(ModelError, match="no ONNX export"):
        resolve_engine("onnx", "cpu", {})
    # CUDA present: auto takes torch on the GPU, explicit onnx stays on the CPU
    monkeypatch.setattr(engines, "cuda_available", lambda: True)
    assert resolve_engine("auto", "auto", meta) == ("torch", "cuda")
    assert resolve_engine("onnx", "auto", meta) == ("onnx", "cpu")
    # no PyTorch (the packaged app)
    monkeypatch.setattr(engines, "cuda_available", lambda: False)
    monkeypatch.setattr(engines, "has_module", lambda name: name != "torch")
    assert resolve_engine("auto", "auto", meta) == ("onnx", "cpu")
    with pytest.raises(ModelError, match="no PyTorch"):
        resolve_engine("torch", "cpu", meta)
    with pytest.raises(DeviceError, match="no PyTorch"):
        resolve_engine("auto", "cuda", meta)


def test_export_script_round_trip(tmp_path):
    """training/export_onnx.py writes the export and its entry; the ONNX engine loads it and
    agrees with torch; re-saving the weights drops the stale entry."""
    from training.export_onnx import export

    pt = make_weights(tmp_path, "tiny", preprocess=False)
    entry = export(pt, tolerance=1e-4)
    meta = json.loads(pt.with_suffix(".json").read_text())
    assert meta["onnx"] == entry and entry["file"] == "tiny.onnx"
    assert entry["input_shape"] == ["batch", 3, 64, 64]
    assert entry["max_prob_diff_vs_torch"] < 1e-4
    a = Segmenter.load(pt, device="cpu")
    b = Segmenter.load(pt, device="cpu", engine="torch")
    assert a.engine_name == "onnx"
    rgb = load_image(SAMPLES / "IMD002.jpg")
    assert np.abs(a.predict(rgb) - b.predict(rgb)).max() < 1e-4
    make_weights(tmp_path, "tiny", seed=3)  # new weights: no export listed any more
    inference.clear_cache()
    assert Segmenter.load(pt, device="cpu").engine_name == "torch"


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport sys; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return set(out.stdout.split())


def test_imports_are_lazy():
    core = _modules_after("import dermview.model.engines, dermview.model.inference, "
                          "dermview.threads, dermview.batch, dermview.segmentation, dermview.cli")
    assert not {"torch", "onnxruntime"} & core
    onnx_only = _modules_after("from dermview.model.inference import Segmenter; "
                               "Segmenter.load(None, device='cpu', engine='onnx')")
    assert "onnxruntime" in onnx_only and "torch" not in onnx_only
    torch_only = _modules_after("from dermview.model.inference import Segmenter; "
                                "Segmenter.load(None, device='cpu', engine='torch')")
    assert "torch" in torch_only and "onnxruntime" not in torch_only


@pytest.mark.parametrize("engine", ["onnx", "torch"])
def test_cli_records_the_engine_in_the_sidecar(tmp_path, engine, capsys):
    from dermview.cli import main

    out = tmp_path / "labels"
    rc = main(["segment", str(SAMPLES / "IMD002.jpg"), "--out", str(out), "--sidecar",
               "--engine", engine, "--device", "cpu", "--jobs", "2"])
    assert rc == 0
    meta = json.loads((out / "IMD002_segmentation.json").read_text())
    assert meta["engine"] == engine
    assert meta["model_sha256"] == wmod.read_metadata_file(MODELS / "dermview_default.json")[
        "sha256"]
    assert f"({engine}, 1 thread)" in capsys.readouterr().out


def test_cli_engine_errors_exit_2(tmp_path, capsys):
    from dermview.cli import main

    pt = make_weights(tmp_path, "tiny")  # no export
    rc = main(["segment", str(SAMPLES / "IMD002.jpg"), "--out", str(tmp_path / "o"),
               "--weights", str(pt), "--engine", "onnx"])
    assert rc == 2 and "no ONNX export" in capsys.readouterr().err
    rc = main(["segment", str(SAMPLES / "IMD002.jpg"), "--out", str(tmp_path / "o"),
               "--engine", "onnx", "--device", "cuda"])
    assert rc == 2 and "CPU only" in capsys.readouterr().err
