"""Segmenter: loading, verification, device choice, caching, any-size inference; pipeline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _weights import META, make_weights  # noqa: E402

from dermview.errors import DeviceError, ParameterError, WeightsError  # noqa: E402
from dermview.io import load_image  # noqa: E402
from dermview.model import inference  # noqa: E402
from dermview.model.inference import Segmenter, resize_to, resolve_device  # noqa: E402
from dermview.model.weights import DEFAULT_WEIGHTS  # noqa: E402
from dermview.segmentation import SegmentationResult, segment_image  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "samples"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def tiny(tmp_path) -> Path:
    inference.clear_cache()
    return make_weights(tmp_path)


def test_predict_shape_dtype_range(tiny):
    seg = Segmenter.load(tiny, device="cpu")
    rgb = load_image(SAMPLES / "IMD002.jpg")
    prob = seg.predict(rgb)
    assert prob.shape == rgb.shape[:2]
    assert prob.dtype == np.float32
    assert 0.0 <= prob.min() <= prob.max() <= 1.0
    assert seg.device == "cpu" and seg.name == "tiny-test" and len(seg.weights_sha256) == 64
    assert seg.meta["input_size"] == 64 and seg.input_size == (64, 64)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (20000, 8), (8, 20000), (383, 512), (63, 65)])
def test_any_size_and_aspect(tiny, shape):
    seg = Segmenter.load(tiny, device="cpu")
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    prob = seg.predict(rgb)
    assert prob.shape == shape and prob.dtype == np.float32
    assert np.isfinite(prob).all() and prob.min() >= 0 and prob.max() <= 1


def test_prediction_follows_network(tiny):
    """The returned map is the network's sigmoid output at the input size, resized back."""
    seg = Segmenter.load(tiny, device="cpu")
    rgb = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    x = (rgb.astype(np.float32) / 255 - np.float32(META["mean"])) / np.float32(META["std"])
    with torch.no_grad():
        ref = torch.sigmoid(seg.engine.model(torch.from_numpy(x.transpose(2, 0, 1))[None]))[0, 0].numpy()
    np.testing.assert_allclose(seg.predict(rgb), ref, atol=1e-5)
    # grey input is replicated to RGB
    grey = rgb[:, :, 0]
    np.testing.assert_allclose(seg.predict(grey), seg.predict(np.dstack([grey] * 3)), atol=1e-6)


def test_tta_is_flip_average(tiny):
    seg = Segmenter.load(tiny, device="cpu")
    rgb = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    p = seg.predict(rgb)
    pf = seg.predict(rgb[:, ::-1])[:, ::-1]  # a flipped view, not a copy
    np.testing.assert_allclose(seg.predict(rgb, tta=True), 0.5 * (p + pf), atol=1e-5)


def test_predict_flipped_is_the_second_half_of_tta(tiny):
    seg = Segmenter.load(tiny, device="cpu")
    rgb = np.random.default_rng(4).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    pf = seg.predict_flipped(rgb)
    assert pf.shape == (50, 70) and pf.dtype == np.float32
    np.testing.assert_allclose(pf, seg.predict(rgb[:, ::-1])[:, ::-1], atol=1e-5)
    np.testing.assert_allclose(0.5 * (seg.predict(rgb) + pf), seg.predict(rgb, tta=True),
                               atol=1e-5)
    # a mirror-symmetric image gives a mirror-symmetric TTA map
    sym = np.concatenate([rgb, rgb[:, ::-1]], axis=1)
    tta = seg.predict(sym, tta=True)
    np.testing.assert_allclose(tta, tta[:, ::-1], atol=1e-5)


def test_gated_tta_runs_the_flip_only_below_the_gate(tiny):
    seg = Segmenter.load(tiny, device="cpu")
    rgb = load_image(SAMPLES / "IMD002.jpg")
    plain = segment_image(rgb, seg, params=None)
    never = segment_image(rgb, seg, params=None, tta="auto", tta_gate=0.0)
    always = segment_image(rgb, seg, params=None, tta="auto", tta_gate=1.01)
    full = segment_image(rgb, seg, params=None, tta=True)
    assert not plain.tta_applied and not never.tta_applied
    assert always.tta_applied and full.tta_applied
    np.testing.assert_array_equal(never.prob, plain.prob)
    np.testing.assert_allclose(always.prob, full.prob, atol=1e-5)
    assert always.prob.shape == rgb.shape[:2] and "gated_tta" in always.timings
    with pytest.raises(ParameterError):
        segment_image(rgb, seg, params=None, tta="sometimes")


def test_letterbox_policy(tmp_path):
    inference.clear_cache()
    seg = Segmenter.load(make_weights(tmp_path, resize="letterbox"), device="cpu")
    prob = seg.predict(np.full((30, 90, 3), 128, np.uint8))
    assert prob.shape == (30, 90)


def test_unknown_resize_policy_refused(tmp_path):
    inference.clear_cache()
    with pytest.raises(WeightsError, match="resize policy"):
        Segmenter.load(make_weights(tmp_path, resize="crop-and-pray"), device="cpu")


def test_bad_input_refused(tiny):
    seg = Segmenter.load(tiny, device="cpu")
    with pytest.raises(ValueError, match="uint8"):
        seg.predict(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="RGB"):
        seg.predict(np.zeros((8, 8, 4), np.uint8))
    with pytest.raises(ValueError):
        seg.predict(np.zeros((0, 8, 3), np.uint8))


def test_model_cached_per_file_and_device(tmp_path):
    inference.clear_cache()
    a = make_weights(tmp_path, "a", seed=0)
    b = make_weights(tmp_path, "b", seed=1)
    sa = Segmenter.load(a, device="cpu")
    assert Segmenter.load(a, device="cpu") is sa
    assert Segmenter.load(str(a), device="auto" if not torch.cuda.is_available() else "cpu") is sa
    assert Segmenter.load(b, device="cpu") is not sa
    # a new file written at the same path is verified and loaded afresh
    make_weights(tmp_path, "a", seed=5)
    assert Segmenter.load(a, device="cpu") is not sa


def test_tampered_weights_refused(tiny):
    data = bytearray(tiny.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tiny.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="SHA-256"):
        Segmenter.load(tiny, device="cpu")


def test_tampered_after_caching_refused(tiny):
    Segmenter.load(tiny, device="cpu")
    tiny.write_bytes(tiny.read_bytes() + b"\0")
    with pytest.raises(WeightsError, match="altered"):
        Segmenter.load(tiny, device="cpu")


def test_missing_metadata_refused(tiny):
    tiny.with_suffix(".json").unlink()
    with pytest.raises(WeightsError, match="no metadata"):
        Segmenter.load(tiny, device="cpu")


def test_missing_weights_refused(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        Segmenter.load(tmp_path / "nothing.pt", device="cpu")


def test_metadata_for_other_architecture_refused(tiny):
    meta_file = tiny.with_suffix(".json")
    meta = json.loads(meta_file.read_text())
    meta["config"] = {"width": 16}
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="does not fit"):
        Segmenter.load(tiny, device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present on this machine")
def test_cuda_absent_gives_clear_error(tiny):
    with pytest.raises(DeviceError, match="CUDA"):
        Segmenter.load(tiny, device="cuda")
    assert resolve_device("auto") == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(tiny):  # pragma: no cover - runs on GPU machines only
    rgb = load_image(SAMPLES / "IMD002.jpg")
    p_cpu = Segmenter.load(tiny, device="cpu").predict(rgb)
    gpu = Segmenter.load(tiny, device="cuda")
    assert gpu.device == "cuda"
    np.testing.assert_allclose(gpu.predict(rgb), p_cpu, atol=1e-3)


def test_unknown_device_refused(tiny):
    with pytest.raises(DeviceError, match="Unknown device"):
        Segmenter.load(tiny, device="tpu")


def test_resize_to_mixed_axes():
    strip = np.arange(20000 * 8, dtype=np.float32).reshape(20000, 8)
    out = resize_to(strip, 64, 64)
    assert out.shape == (64, 64) and out.dtype == np.float32
    # area averaging along the shrinking axis: each output row averages ~312 input rows
    assert abs(float(out[:, 0].mean()) - float(strip[:, 0].mean())) < 1e-3 * strip.max()
    img = np.zeros((5, 5, 3), np.uint8)
    assert resize_to(img, 5, 5) is img


def test_pipeline_without_preprocessing(tiny):
    seg = Segmenter.load(tiny, device="cpu")
    rgb = load_image(SAMPLES / "ISIC_0024311.jpg")
    res = segment_image(rgb, seg, params=None, threshold=0.5)
    assert isinstance(res, SegmentationResult)
    assert res.preprocessed is None and res.params is None
    assert res.mask.shape == rgb.shape[:2] and res.mask.dtype == bool
    assert res.prob.shape == rgb.shape[:2] and res.threshold == 0.5
    assert set(res.timings) == {"preprocess", "predict", "postprocess", "total"}
    # threshold 0 → every pixel is lesion; threshold 1 with a low peak → nothing
    assert segment_image(rgb, seg, params=None, threshold=0.0).mask.all()
    with pytest.raises(ParameterError):
        segment_image(rgb, seg, params=None, threshold=1.5)


def test_pipeline_model_default_preprocessing(tiny):
    seg = Segmenter.load(tiny, device="cpu")  # metadata has no "preprocess" → raw images
    assert seg.trained_on_preprocessed is False
    rgb = load_image(SAMPLES / "IMD002.jpg")
    res = segment_image(rgb, seg)
    assert res.preprocessed is None and res.threshold == seg.threshold == 0.5


def test_preprocess_metadata_forms(tmp_path):
    from dermview.preprocess.params import PreprocessParams

    inference.clear_cache()
    s1 = Segmenter.load(make_weights(tmp_path, "p1", preprocess=True), device="cpu")
    assert s1.preprocess_params() == PreprocessParams()
    s2 = Segmenter.load(make_weights(tmp_path, "p2", preprocess={"hair_threshold": 3}),
                        device="cpu")
    assert s2.preprocess_params() == PreprocessParams(hair_threshold=3)
    s3 = Segmenter.load(make_weights(tmp_path, "p3", preprocess={"enabled": False}),
                        device="cpu")
    assert s3.preprocess_params() is None


def test_importing_core_does_not_import_torch():
    code = ("import sys, dermview.segmentation, dermview.postprocess, dermview.metrics, "
            "dermview.model, dermview.cli; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="bundled default weights not trained yet")
def test_bundled_default_segments_samples():
    from dermview.io import load_mask
    from dermview.metrics import dice

    inference.clear_cache()
    seg = Segmenter.load(None, device="cpu")
    assert seg.weights_path == DEFAULT_WEIGHTS
    scores = []
    for stem in ("IMD002", "ISIC_0024311"):
        rgb = load_image(SAMPLES / f"{stem}.jpg")
        gt = load_mask(SAMPLES / f"{stem}_segmentation.png", shape=rgb.shape[:2])
        scores.append(dice(segment_image(rgb, seg).mask, gt))
    assert min(scores) > 0.8, scores


def test_pipeline_with_preprocessing_masks_out_frame(tmp_path):
    from dermview.preprocess.params import PreprocessParams

    inference.clear_cache()
    seg = Segmenter.load(make_weights(tmp_path, "pre", preprocess=True), device="cpu")
    rgb = load_image(SAMPLES / "IMD009.jpg")  # PH2: dark corners and hair
    res = segment_image(rgb, seg, threshold=1e-6, clean=False)  # preprocessing from metadata
    assert res.params == PreprocessParams()
    pre = res.preprocessed
    assert pre is not None and pre.image.shape == rgb.shape and pre.frame_mask.any()
    assert pre.hair_count > 0 and pre.hair_mask.any()
    # the frame is never lesion: probability 0 there, so even a tiny threshold leaves it out
    assert (res.prob[pre.frame_mask] == 0).all()
    np.testing.assert_array_equal(res.mask, ~pre.frame_mask)
    assert res.timings["preprocess"] > 0
    # explicit None switches preprocessing off even for a model trained with it
    assert segment_image(rgb, seg, params=None).preprocessed is None
    # the network saw the repaired image, not the original
    np.testing.assert_allclose(res.prob[~pre.frame_mask],
                               seg.predict(pre.image)[~pre.frame_mask], atol=1e-6)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present on this machine")
def test_gpu_that_fails_to_load_gives_device_error(tiny, monkeypatch):
    # torch claims CUDA, but moving the model there fails (here: a CPU-only build)
    from dermview.model import engines

    monkeypatch.setattr(engines, "cuda_available", lambda: True)
    with pytest.raises(DeviceError, match="could not be moved to the GPU"):
        Segmenter.load(tiny, device="cuda")


def test_out_of_memory_is_reported(tiny, monkeypatch):
    seg = Segmenter.load(tiny, device="cpu", engine="torch")

    def boom(*_args):
        raise torch.OutOfMemoryError("simulated")

    monkeypatch.setattr(seg.engine, "model", boom)
    with pytest.raises(MemoryError, match="not enough memory"):
        seg.predict(np.zeros((8, 8, 3), np.uint8))
    # on a GPU, the message says so and suggests the CPU
    monkeypatch.setattr(seg.engine, "device", "cuda")
    monkeypatch.setattr(seg.engine, "channels_last", False)
    monkeypatch.setattr(torch.Tensor, "to", lambda t, *_a, **_k: t)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    with pytest.raises(DeviceError, match="ran out of memory"):
        seg.predict(np.zeros((8, 8, 3), np.uint8))


def test_channels_last_choice(tmp_path):
    from dermview.model.inference import use_channels_last

    assert use_channels_last({"arch": "dermsegnet"}, "cpu")
    assert not use_channels_last({"arch": "litesegnet"}, "cpu")
    assert not use_channels_last({"arch": "dermsegnet"}, "cuda")
    assert not use_channels_last({"arch": "dermsegnet", "channels_last": False}, "cpu")
    assert use_channels_last({"arch": "litesegnet", "channels_last": True}, "cpu")
    inference.clear_cache()
    rgb = np.random.default_rng(4).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    nhwc = Segmenter.load(make_weights(tmp_path, "a"), device="cpu")
    nchw = Segmenter.load(make_weights(tmp_path, "b", channels_last=False), device="cpu")
    assert nhwc.engine.channels_last and not nchw.engine.channels_last
    np.testing.assert_allclose(nhwc.predict(rgb), nchw.predict(rgb), atol=1e-5)


def test_pipeline_reuses_a_matching_preprocessed_result(tiny, monkeypatch):
    from dermview import preprocess as pp

    seg = Segmenter.load(tiny, device="cpu")
    rgb = load_image(SAMPLES / "ISIC_0024311.jpg")
    params = pp.PreprocessParams()
    done = pp.preprocess(rgb, params)
    calls = []
    real = pp.preprocess
    monkeypatch.setattr(pp, "preprocess", lambda *a, **k: calls.append(1) or real(*a, **k))
    res = segment_image(rgb, seg, params=params, threshold=0.5, preprocessed=done)
    assert res.preprocessed is done and calls == []
    other = pp.PreprocessParams(hair_threshold=params.hair_threshold + 1)
    res = segment_image(rgb, seg, params=other, threshold=0.5, preprocessed=done)
    assert res.preprocessed is not done and res.params == other and calls == [1]
