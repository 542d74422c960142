"""Fine-tuning on saved labels: label collection, hold-out plan, the whole run on a tiny
synthetic folder (files, metadata, held-out scores), refusals, cancel and Ctrl+C."""

from __future__ import annotations

import functools
import json
import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from _weights import make_weights  # noqa: E402

from dermview.cli import main  # noqa: E402
from dermview.finetune import (  # noqa: E402
    FinetuneError,
    LabelMismatchError,
    collect_labels,
    holdout_plan,
)
from dermview.finetune.collect import ACCEPTED, CORRECTED, review_state  # noqa: E402
from dermview.finetune.engine import (  # noqa: E402
    FinetuneCancelled,
    FinetuneSettings,
    judge,
)
from dermview.finetune.run import finetune  # noqa: E402
from dermview.finetune.train import _encoder_outputs, make_views, train_run  # noqa: E402
from dermview.io import save_image, save_mask  # noqa: E402
from dermview.labels import LabelMeta, image_sha256, save_label  # noqa: E402
from dermview.model import inference  # noqa: E402
from dermview.model.losses import get_loss  # noqa: E402
from dermview.model.weights import sha256_file, verify_weights  # noqa: E402

FAST = FinetuneSettings(max_steps=3, min_steps=1, batch_size=4, lr=1e-2, time_limit_min=2.0,
                        colour_norm=0.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _lesion(rng: np.random.Generator, h: int = 48, w: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A dark brown ellipse on pinkish skin with noise: RGB uint8 (h, w, 3), bool (h, w)."""
    mask = np.zeros((h, w), np.uint8)
    centre = (int(rng.integers(20, w - 20)), int(rng.integers(16, h - 16)))
    axes = (int(rng.integers(8, 16)), int(rng.integers(6, 12)))
    cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    rgb = np.empty((h, w, 3), np.float32)
    rgb[:] = (215, 170, 150)
    rgb[mask > 0] = (110, 70, 50)
    rgb += rng.normal(0, 8, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8), mask > 0


def make_folder(root: Path, n: int, sidecar_every: int = 2, seed: int = 0) -> Path:
    """``root/images`` with ``n`` images and their labels in ``images/labels``: every
    ``sidecar_every``-th one saved by :func:`save_label` as a corrected label (the app's way),
    the others as a bare PNG (no sidecar: counts as corrected)."""
    rng = np.random.default_rng(seed)
    folder = root / "images"
    folder.mkdir(parents=True)
    for i in range(n):
        rgb, mask = _lesion(rng)
        img = folder / f"case{i:02d}.png"
        save_image(img, rgb)
        if sidecar_every and i % sidecar_every == 0:
            meta = LabelMeta(image_sha256=image_sha256(img), image_size=(64, 48), edited=True,
                             edit_operations=1, source="model")
            save_label(img, mask, meta)
        else:
            (folder / "labels").mkdir(exist_ok=True)
            save_mask(folder / "labels" / f"case{i:02d}_segmentation.png", mask)
    return folder


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return make_weights(tmp_path / "w" if (tmp_path / "w").mkdir() is None else tmp_path)


# ------------------------------------------------------------------ labels and hold-out


def test_review_state_rules():
    sha = "ab" * 32
    assert review_state(None, sha) == CORRECTED  # a mask from another tool
    assert review_state({"edited": True, "source": "model"}, sha) == CORRECTED
    assert review_state({"edited": False, "source": "manual"}, sha) == CORRECTED
    assert review_state({"edited": False, "source": "model", "mask_sha256": sha}, sha) is None
    assert review_state({"edited": False, "source": "model", "mask_sha256": "cd" * 32},
                        sha) == CORRECTED  # PNG changed after saving
    assert review_state({"review_state": "accepted", "edited": False}, sha) == ACCEPTED
    assert review_state({"review_state": "corrected", "source": "model"}, sha) == CORRECTED
    assert review_state({"review_state": None, "edited": True}, sha) == CORRECTED
    assert review_state({"review_state": "rejected", "edited": True}, sha) is None


def _add_batch_and_accepted(folder: Path) -> None:
    """Add ``batch.png`` (an unreviewed batch result) and ``ok.png`` (an accepted label)."""
    rng = np.random.default_rng(5)
    for name, state in (("batch", None), ("ok", "accepted")):
        rgb, mask = _lesion(rng)
        img = folder / f"{name}.png"
        save_image(img, rgb)
        save_label(img, mask, LabelMeta(image_sha256=image_sha256(img), image_size=(64, 48),
                                        review_state=state))


def test_collect_labels_uses_states_and_skips_unreviewed(tmp_path: Path):
    folder = make_folder(tmp_path, 8)
    _add_batch_and_accepted(folder)
    labels = collect_labels(folder)
    names = {it.image.name: it.review for it in labels.items}
    assert names["ok.png"] == ACCEPTED and "batch.png" not in names
    assert len(labels.corrected) == 8 and len(labels.accepted) == 1
    assert [u[0] for u in labels.unused] == ["batch_segmentation.png"]
    assert all(it.image_sha256 == image_sha256(it.image) for it in labels.items)


def test_a_rejected_label_is_not_used_and_named_as_rejected(tmp_path: Path):
    """A mask the reviewer rejected is never trained on, and is not called 'not reviewed'."""
    from dermview.finetune.collect import label_summary

    folder = make_folder(tmp_path, 8)
    rgb, mask = _lesion(np.random.default_rng(9))
    img = folder / "wrong.png"
    save_image(img, rgb)
    save_label(img, mask, LabelMeta(image_sha256=image_sha256(img), image_size=(64, 48),
                                    review_state="rejected"))
    labels = collect_labels(folder)
    assert "wrong.png" not in {it.image.name for it in labels.items}
    assert labels.unused == (("wrong_segmentation.png", "rejected by the reviewer (to be redone)"),)
    assert label_summary(folder) == ("8 corrected (4 imported), 0 accepted, 1 rejected (not used) labels: "
                                     "enough to start")


def test_label_summary_counts_states_and_says_whether_enough(tmp_path: Path):
    from dermview.finetune.collect import label_summary

    folder = make_folder(tmp_path / "a", 4)
    _add_batch_and_accepted(folder)
    assert label_summary(folder) == ("4 corrected (2 imported), 1 accepted, 1 unreviewed (not used) labels: "
                                     "at least 6 corrected ones are needed")
    assert label_summary(make_folder(tmp_path / "b", 6)) == \
        "6 corrected (3 imported), 0 accepted labels: enough to start"
    assert "not a folder" in label_summary(tmp_path / "nowhere")


def test_too_few_labels_refused(tmp_path: Path):
    folder = make_folder(tmp_path, 4)
    with pytest.raises(FinetuneError, match="at least 6 corrected labels.*found 4"):
        collect_labels(folder)
    # the labels it does not use are said, with why (docs trial: "found 0" on a folder of
    # model masks nobody had reviewed said nothing about them)
    _add_batch_and_accepted(folder)
    with pytest.raises(FinetuneError, match=r"found 4 .*; not used: 1 not reviewed \(a model "
                                            r"mask nobody corrected or accepted\)\. Correct"):
        collect_labels(folder)


def test_hash_mismatch_refused(tmp_path: Path, base: Path, capsys):
    folder = make_folder(tmp_path, 8)
    img = folder / "case02.png"  # has a sidecar: change the image after labelling
    rgb, _ = _lesion(np.random.default_rng(9))
    save_image(img, rgb)
    with pytest.raises(LabelMismatchError, match="case02.png"):
        collect_labels(folder)
    out = tmp_path / "new.pt"
    rc = main(["finetune", str(folder), "--base", str(base), "--out", str(out),
               "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and "case02.png" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_holdout_plan_kfold():
    for n, k in ((10, 3), (25, 5)):
        folds = holdout_plan(n)
        assert len(folds) == k
        held = sorted(i for _, h in folds for i in h)
        assert held == list(range(n))  # each label held out exactly once
        for train, h in folds:
            assert not set(train) & set(h) and len(train) + len(h) == n


def _rows(dice: list[float]) -> list[dict[str, float]]:
    return [{"dice": d, "jaccard": d / (2 - d), "thresholded_jaccard": d / (2 - d)} for d in dice]


def test_judge_needs_a_clear_paired_gain():
    rng = np.random.default_rng(0)
    base = list(rng.uniform(0.80, 0.95, 25))
    clean = list(base)
    better, text = judge(_rows(base), _rows([b + 0.02 + rng.normal(0, 0.005) for b in base]))
    assert better and "is better" in text
    assert not judge(_rows(base), _rows(base))[0]  # equal is not better
    assert not judge(_rows(base), _rows([b - 0.01 for b in base]))[0]
    # a mean gain above the margin carried by one image while most get worse: noise, refused
    base = [0.3, *base[1:]]
    noisy = [b - 0.01 for b in base]
    noisy[0] = 0.9
    assert np.mean(noisy) - np.mean(base) > 0.005
    better, text = judge(_rows(base), _rows(noisy))
    assert not better and "NOT better" in text
    # a gain below the margin is refused even when consistent
    assert not judge(_rows(base), _rows([b + 0.003 for b in base]))[0]
    # a clear gain that adds a failure (Jaccard < 0.65) is refused
    worse = [b + 0.03 for b in clean]
    worse[1] = 0.6
    better, text = judge(_rows(clean), _rows(worse))
    assert not better and "fails more often" in text


# ------------------------------------------------------------------ training


def test_colour_standardise_removes_a_channel_cast():
    from dermview.model.blocks import ColourStandardise

    ref = (0.1, 0.2, 0.3, 0.5, 0.6, 0.7)
    x = torch.randn(2, 3, 16, 16)
    gain = torch.tensor([1.3, 0.8, 0.6]).view(1, 3, 1, 1)
    offset = torch.tensor([0.2, -0.1, 0.4]).view(1, 3, 1, 1)
    full = ColourStandardise(1.0, ref)
    torch.testing.assert_close(full(x * gain + offset), full(x), atol=1e-4, rtol=1e-4)
    y = full(x)
    torch.testing.assert_close(y.mean((2, 3)), torch.tensor([ref[:3]] * 2), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std((2, 3)), torch.tensor([ref[3:]] * 2), atol=1e-4, rtol=0)
    half = ColourStandardise(0.5, ref)(x).mean((2, 3))
    torch.testing.assert_close(half, 0.5 * x.mean((2, 3)) + 0.5 * torch.tensor(ref[:3]),
                               atol=1e-5, rtol=0)
    with pytest.raises(ValueError):
        ColourStandardise(1.5, ref)


def test_colour_standardisation_is_saved_with_the_weights_and_older_files_still_load():
    """Its share and reference are state dict entries (so a standardised model's file, and
    its SHA-256, differ from the base's); a state dict without them (an older file, the base
    model's) loads with the config's values; one that disagrees with the config is refused."""
    from dermview.model.blocks import load_state
    from dermview.model.nets import build_model

    ref = (0.1, 0.2, 0.3, 0.5, 0.6, 0.7)
    torch.manual_seed(0)
    plain = build_model("dermsegnet", width=8)
    std = build_model("dermsegnet", width=8, colour_norm=0.5, colour_ref=ref)
    state = std.state_dict()
    torch.testing.assert_close(state["colour.setting"], torch.tensor([0.5, *ref]))
    load_state(std, plain.state_dict())  # the base's state dict: the config's setting
    torch.testing.assert_close(std.state_dict()["colour.setting"], torch.tensor([0.5, *ref]))
    torch.testing.assert_close(std.state_dict()["stem.0.0.weight"], plain.state_dict()["stem.0.0.weight"])
    other = build_model("dermsegnet", width=8, colour_norm=0.75, colour_ref=ref)
    with pytest.raises(RuntimeError, match="disagrees"):
        load_state(other, state)
    with pytest.raises(RuntimeError):
        load_state(plain, state)  # an entry the plain model does not have


def test_adapt_bn_statistics_and_blend(base: Path):
    from dermview.finetune.train import adapt_bn, copy_model

    seg = inference.Segmenter.load(base, "cpu", engine="torch")
    x = torch.randn(6, 3, 64, 64) * 2 + 1
    conv, bn = seg.model.stem[0][0], seg.model.stem[0][1]
    with torch.no_grad():
        feats = conv(x)
    old = bn.running_mean.clone()
    model = adapt_bn(copy_model(seg), x)
    new_bn = model.stem[0][1]
    torch.testing.assert_close(new_bn.running_mean, feats.mean((0, 2, 3)), atol=1e-4, rtol=1e-4)
    assert not model.training and new_bn.momentum == bn.momentum
    torch.testing.assert_close(bn.running_mean, old)  # the base is not changed
    half = adapt_bn(copy_model(seg), x, blend=0.5).stem[0][1]
    torch.testing.assert_close(half.running_mean, 0.5 * old + 0.5 * feats.mean((0, 2, 3)),
                               atol=1e-4, rtol=1e-4)
    none = adapt_bn(copy_model(seg), x, blend=0.0).stem[0][1]
    torch.testing.assert_close(none.running_mean, old)


def test_finetune_without_steps_colour_standardised(tmp_path: Path, base: Path):
    """max_steps 0: the new model is the base with the colour standardisation (+ AdaBN on the
    labelled and unlabelled images); every label scores it; the export matches torch."""
    folder = make_folder(tmp_path, 8)
    save_image(folder / "unlabelled.png", _lesion(np.random.default_rng(9))[0])
    out = tmp_path / "cn.pt"
    seen = []
    rep = finetune(folder, out, base=base, device="cpu",
                   progress=lambda d, t, p: seen.append((d, t)),
                   settings=replace(FAST, max_steps=0, colour_norm=0.5, bn_adapt=0.25))
    assert seen[-1][0] == seen[-1][1] == 16  # 8 base + 8 new scores
    meta = verify_weights(out)
    assert meta["config"]["colour_norm"] == 0.5 and len(meta["config"]["colour_ref"]) == 6
    assert meta["training"]["steps_per_run"] == 0
    assert meta["finetune"]["holdout"]["scheme"] == "no label trained the model"
    assert rep.new_scores["n"] == rep.base_scores["n"] == 8
    new = inference.Segmenter.load(out, "cpu", engine="torch")
    assert new.model.colour is not None and new.model.colour.alpha == 0.5
    rgb = _lesion(np.random.default_rng(3))[0]
    np.testing.assert_allclose(inference.Segmenter.load(out, "cpu").predict(rgb),
                               new.predict(rgb), atol=1e-4)  # ONNX == torch
    old = inference.Segmenter.load(base, "cpu")
    assert not np.allclose(new.predict(rgb), old.predict(rgb))
    # a fine-tuned model as the base of another run, with another share: the new share
    # replaces the base's (its saved setting is not a conflict)
    again = finetune(folder, tmp_path / "cn2.pt", base=out, device="cpu",
                     settings=replace(FAST, max_steps=0, colour_norm=0.75))
    assert verify_weights(again.out)["config"]["colour_norm"] == 0.75
    assert inference.Segmenter.load(again.out, "cpu", engine="torch").model.colour.alpha == 0.75


def test_head_path_equals_network_output(base: Path):
    seg = inference.Segmenter.load(base, "cpu", engine="torch")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        low, high = _encoder_outputs(seg.model.eval(), x)
        head = F.interpolate(seg.model.decoder(low, seg.model.aspp(high)), size=(64, 64),
                             mode="bilinear", align_corners=False)
        assert torch.allclose(head, seg.model(x))


@pytest.mark.parametrize("layers", ["head", "all"])
def test_train_run_lowers_the_loss(base: Path, layers: str):
    seg = inference.Segmenter.load(base, "cpu", engine="torch")
    rng = np.random.default_rng(1)
    pairs = [_lesion(rng, 64, 64) for _ in range(4)]
    imgs = np.stack([p[0] for p in pairs])
    masks = np.stack([p[1] for p in pairs]).astype(np.uint8)
    views = make_views(seg, imgs, masks, "all", per_image=2)
    before = {k: v.clone() for k, v in seg.model.state_dict().items()}
    steps = []
    model = train_run(seg, views, list(range(8)), replace(FAST, layers=layers), 20, math.inf,
                      lambda s, m: steps.append(s))
    assert steps == list(range(1, 21))

    def loss(net):
        with torch.no_grad():
            return float(get_loss("dice_bce")(net.eval()(views.x), views.target))

    assert loss(model) < 0.8 * loss(seg.model)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith(("aspp.", "decoder.")) for k in changed) == (
        layers == "head")
    assert all(torch.equal(v, before[k]) for k, v in seg.model.state_dict().items())


# ------------------------------------------------------------------ the whole run


def test_finetune_end_to_end(tmp_path: Path, base: Path):
    folder = make_folder(tmp_path, 9)
    out = tmp_path / "models" / "clinic.pt"
    seen = []
    settings = FAST
    rep = finetune(folder, out, base=base, settings=settings, device="cpu",
                   progress=lambda d, t, p: seen.append((d, t, p)), command="test")
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["clinic.json", "clinic.onnx",
                                                            "clinic.pt"]
    meta = verify_weights(out)  # the SHA-256 in the metadata is the file's
    onnx = meta["onnx"]  # the ONNX export, checked against torch, from these very weights
    assert onnx["file"] == "clinic.onnx" and onnx["source_sha256"] == meta["sha256"]
    assert onnx["sha256"] == sha256_file(out.with_suffix(".onnx"))
    assert onnx["max_prob_diff_vs_torch"] <= 1e-4 and str(out) in onnx["command"]
    assert meta == json.loads(out.with_suffix(".json").read_text())
    assert meta["user_trained"] is True and meta["name"] == "clinic"
    assert meta["parent"] == {"name": "tiny-test", "file": base.name, "sha256": sha256_file(base)}
    ft = meta["finetune"]
    assert len(ft["labels"]) == 9
    for rec in ft["labels"]:
        assert rec["image_sha256"] == image_sha256(folder / rec["image"])
        assert rec["label_sha256"] == sha256_file(folder / "labels" / rec["label"])
    assert ft["holdout"]["scheme"] == "3-fold" and len(ft["holdout"]["folds"]) == 3
    assert sorted(n for f in ft["holdout"]["folds"] for n in f) == sorted(
        r["image"] for r in ft["labels"])
    scores = ft["scores"]
    assert scores["base"]["n"] == scores["new"]["n"] == 9 == len(scores["per_image"])
    for key in ("dice", "jaccard", "thresholded_jaccard"):
        assert 0.0 <= scores["new"][key] <= 1.0
        assert scores["new"][key] == pytest.approx(
            np.mean([r["new"][key] for r in scores["per_image"]]))
    rows = scores["per_image"]
    assert ft["improved"] == rep.improved == judge([r["base"] for r in rows],
                                                   [r["new"] for r in rows])[0]
    assert meta["training"]["steps_per_run"] == settings.max_steps
    # progress reached its total; the new model loads and differs from the base
    assert seen[-1][0] == seen[-1][1] > 4 * settings.max_steps
    new = inference.Segmenter.load(out, "cpu")
    assert new.engine_name == "onnx"  # the CPU default runs the export
    old = inference.Segmenter.load(base, "cpu")
    rgb = np.full((48, 64, 3), 200, np.uint8)
    assert not np.allclose(new.predict(rgb), old.predict(rgb))
    torch_new = inference.Segmenter.load(out, "cpu", engine="torch")
    np.testing.assert_allclose(torch_new.predict(rgb), new.predict(rgb), atol=1e-4)


def test_user_trained_model_marked_in_sidecar_and_report(tmp_path: Path, base: Path):
    from dermview.model.provenance import describe_model, user_trained_mark

    out = tmp_path / "models" / "clinic.pt"
    finetune(make_folder(tmp_path, 8), out, base=base, settings=FAST, device="cpu")
    imgs = tmp_path / "new"
    imgs.mkdir()
    save_image(imgs / "a.png", _lesion(np.random.default_rng(5))[0])
    for weights, marked in ((out, True), (base, False)):
        labels = tmp_path / f"labels_{weights.stem}"
        assert main(["segment", str(imgs), "--weights", str(weights), "--out", str(labels),
                     "--sidecar", "--device", "cpu"]) == 0
        side = json.loads((labels / "a_segmentation.json").read_text())
        mark = side.get("model_provenance")
        assert (mark is not None) == marked
        if marked:
            assert mark["user_trained"] is True and mark["parent"] == "tiny-test"
            assert mark["parent_sha256"] == sha256_file(base) and mark["labels"] == 8
    mark = user_trained_mark(verify_weights(out))
    assert "USER-TRAINED: fine-tuned from tiny-test on 8 labels" in describe_model("c", "ab", mark)
    assert "USER-TRAINED" not in describe_model("c", "ab", user_trained_mark(verify_weights(base)))
    untrained = {**mark, "trained": False}
    assert "USER-TRAINED: tiny-test with per-image colour standardisation (no training step), " \
        "scored on 8 labels" in describe_model("c", "ab", untrained)


def test_no_change_is_not_called_better(tmp_path: Path, base: Path):
    folder = make_folder(tmp_path, 25, sidecar_every=0)
    rep = finetune(folder, tmp_path / "same.pt", base=base, device="cpu",
                   settings=replace(FAST, lr=1e-12, max_steps=2))
    assert rep.meta["finetune"]["holdout"]["scheme"] == "5-fold"
    assert rep.new_scores["n"] == 25  # every label held out once
    assert rep.new_scores["dice"] == pytest.approx(rep.base_scores["dice"])
    assert not rep.improved and "NOT better" in rep.verdict
    assert rep.meta["finetune"]["improved"] is False


@pytest.mark.parametrize("how", ["cancel", "ctrl_c"])
def test_interrupted_run_writes_nothing(tmp_path: Path, base: Path, how: str):
    folder = make_folder(tmp_path, 8)
    out_dir = tmp_path / "models"
    out_dir.mkdir()
    steps = []

    def progress(done, total, phase):
        if phase.startswith("training"):
            steps.append(done)
            if how == "ctrl_c" and len(steps) == 3:
                raise KeyboardInterrupt

    expected = FinetuneCancelled if how == "cancel" else KeyboardInterrupt
    with pytest.raises(expected):
        finetune(folder, out_dir / "x.pt", base=base, settings=FAST, device="cpu",
                 progress=progress, cancel=lambda: len(steps) >= 3)
    assert list(out_dir.iterdir()) == []  # no weights, no metadata, no temporary folder


def test_cancel_without_steps_writes_nothing(tmp_path: Path, base: Path):
    out_dir = tmp_path / "models"
    out_dir.mkdir()
    seen = []
    with pytest.raises(FinetuneCancelled):
        finetune(make_folder(tmp_path, 8), out_dir / "x.pt", base=base, device="cpu",
                 settings=FinetuneSettings(), progress=lambda d, t, p: seen.append(p),
                 cancel=lambda: "scoring the new model" in seen)
    assert list(out_dir.iterdir()) == []


def test_cli_finetune(tmp_path: Path, base: Path, capsys, monkeypatch):
    from dermview.finetune import engine

    monkeypatch.setattr(engine, "FinetuneSettings", functools.partial(
        FinetuneSettings, max_steps=FAST.max_steps, min_steps=1))  # the CLI's recipe, shorter
    folder = make_folder(tmp_path, 8)
    out = tmp_path / "new.pt"
    rc = main(["finetune", str(folder), "--base", str(base), "--out", str(out),
               "--device", "cpu", "--time-limit", "2"])
    captured = capsys.readouterr()
    text = captured.out
    # logged to a file (no terminal, no progress bar), the run still says what it is doing
    assert "finetune: " in captured.err
    # a phase without a count yet has none (trial S17B: "preparing the labelled images (0/0)")
    assert "finetune: preparing the labelled images\n" in captured.err
    assert "(0/0)" not in captured.err
    meta = json.loads(out.with_suffix(".json").read_text())
    assert rc == (0 if meta["finetune"]["improved"] else 1)
    assert "Wrote" in text and "held-out corrected or imported labels" in text
    # every file written is named (the ONNX export was left out of "(+ .json)")
    assert "(+ new.json" in text
    if meta.get("onnx"):
        assert (tmp_path / meta["onnx"]["file"]).is_file() and meta["onnx"]["file"] in text
    assert meta["training"]["command"].startswith("dermview finetune")
    # an existing output is not replaced without --overwrite; the base is never replaced
    for target, extra in ((out, []), (base, ["--overwrite"])):
        rc = main(["finetune", str(folder), "--base", str(base), "--out", str(target),
                   "--device", "cpu", *extra])
        assert rc == 2
    assert "already exists" in capsys.readouterr().err


def test_cli_finetune_help_gives_the_exit_statuses(capsys):
    """Finding: a model that was not better was written and the run exited 1, which --help
    did not say (a script took the exit status for a failure with nothing written)."""
    with pytest.raises(SystemExit):
        main(["finetune", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Exit status: 0 when the new model scored better" in text
    assert "1 when it did not (it is written all the same" in text


@pytest.mark.parametrize("value, words", [("-1", "must be 0 or more steps, got -1"),
                                          ("ten", "not a whole number: 'ten'")])
def test_cli_finetune_bad_max_steps_is_one_usage_line(tmp_path: Path, capsys, value, words):
    with pytest.raises(SystemExit) as exc:
        main(["finetune", str(tmp_path), "--out", str(tmp_path / "new.pt"),
              "--max-steps", value])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert f"argument --max-steps: {words}" in err and "FinetuneSettings(" not in err


def test_time_limit_clock():
    import time

    from dermview.finetune.engine import clock

    assert clock(FAST) is time.monotonic
    assert clock(replace(FAST, clock="cpu")) is time.process_time
    with pytest.raises(FinetuneError):
        replace(FAST, clock="sundial")


def test_last_stage_path_equals_network_output():
    from dermview.finetune.train import _trainable, last_stage
    from dermview.model.nets import build_model

    model = build_model("litesegnet", pretrained=False).eval()
    k = last_stage(model)
    assert 0 < k < len(model.blocks)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        low, mid = _encoder_outputs(model, x, k)
        y = mid
        for block in model.blocks[k:]:
            y = block(y, drop_connect_rate=None)
        out = F.interpolate(model.decoder(low, model.aspp(y)), size=(64, 64), mode="bilinear",
                            align_corners=False)
        assert torch.allclose(out, model(x), atol=1e-5)
    trained = {id(p) for p in _trainable(model, "last")}
    names = [n for n, p in model.named_parameters() if id(p) in trained]
    assert any(n.startswith(f"blocks.{k}.") for n in names)
    assert all(n.startswith(("aspp.", "decoder.")) or int(n.split(".")[1]) >= k for n in names)
    assert not any(n.startswith(("conv_stem", "bn0", f"blocks.{k - 1}.")) for n in names)
