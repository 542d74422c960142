"""A (asymmetry), B (border), C (colours) and LesionAnalysis on synthetic lesions built in
CIELAB, and on the bundled samples."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from dermview.analysis import COLOR_NAMES, TDS_MISSING, AnalysisParams, analyze_lesion
from dermview.analysis.color_features import (
    FEATURE_NAMES,
    REGION_FEATURE_NAMES,
    color_features,
    pixel_features,
    region_features,
)
from dermview.analysis.color_model import ColorModel
from dermview.analysis.colors import REFERENCE_SKIN
from dermview.errors import MaskError, ParameterError
from dermview.io import load_image, load_mask

REPO = Path(__file__).resolve().parent.parent
PROTO = dict(zip(COLOR_NAMES, AnalysisParams().prototypes, strict=True))


def rgb_of(lab) -> np.ndarray:
    """uint8 RGB of one CIELAB colour."""
    px = np.array([[lab]], np.float32)
    return (cv2.cvtColor(px, cv2.COLOR_Lab2RGB)[0, 0] * 255).round().clip(0, 255).astype(np.uint8)


def canvas(h=240, w=320) -> np.ndarray:
    return np.broadcast_to(rgb_of(REFERENCE_SKIN), (h, w, 3)).copy()


def ellipse_mask(h=240, w=320, a=100, b=60) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((xx - (w - 1) / 2) / a) ** 2 + ((yy - (h - 1) / 2) / b) ** 2 <= 1


#: The nearest-prototype share rule (the colour map's naming, and the benchmark's baseline).
SHARE_RULE = AnalysisParams(color_model=None)


def test_uniform_ellipse_is_symmetric_with_one_colour():
    img, m = canvas(), ellipse_mask()
    img[m] = rgb_of(PROTO["light_brown"])
    a = analyze_lesion(img, m, params=SHARE_RULE)
    assert max(a.asymmetry.shape) < 0.02 and max(a.asymmetry.color) < 1.0
    assert a.asymmetry.value == 0
    assert a.colors.as_dict() == {c: c == "light_brown" for c in COLOR_NAMES}
    assert a.colors.n_colors == 1
    assert a.colors.shares[COLOR_NAMES.index("light_brown")] > 0.97


def test_two_colour_halves_are_asymmetric_about_the_minor_axis_only():
    img, m = canvas(), ellipse_mask()
    left = m & (np.arange(320)[None, :] < 160)
    img[m] = rgb_of(PROTO["light_brown"])
    img[left] = rgb_of(PROTO["dark_brown"])
    p = SHARE_RULE.with_(asym_color_weight=0.01, asym_threshold=0.1)
    a = analyze_lesion(img, m, params=p)
    major, minor = a.asymmetry.color
    assert minor > 15 and major < 2  # mirrored about the minor axis, brown meets dark brown
    assert a.asymmetry.asymmetric == (False, True) and a.asymmetry.value == 1
    assert a.colors.as_dict()["light_brown"] and a.colors.as_dict()["dark_brown"]
    assert a.colors.n_colors == 2
    lb, db = (a.colors.shares[COLOR_NAMES.index(c)] for c in ("light_brown", "dark_brown"))
    assert lb == pytest.approx(0.5, abs=0.05) and db == pytest.approx(0.5, abs=0.05)


def test_shape_asymmetry_of_a_bulge_on_one_side():
    h, w = 240, 320
    yy, xx = np.mgrid[:h, :w]
    m = ((xx - 140) ** 2 + (yy - 120) ** 2 <= 70 ** 2) | ((xx - 215) ** 2 + (yy - 120) ** 2 <= 35 ** 2)
    img = canvas()
    img[m] = rgb_of(PROTO["dark_brown"])
    a = analyze_lesion(img, m, params=AnalysisParams(asym_color_weight=0.0, asym_threshold=0.05))
    s_major, s_minor = a.asymmetry.shape
    assert s_major < 0.02  # the two discs' centres lie on the major axis
    assert s_minor > 0.08
    assert a.asymmetry.value == 1


def test_black_dots_are_found_with_their_share():
    img, m = canvas(), ellipse_mask()
    img[m] = rgb_of(PROTO["light_brown"])
    dots = np.zeros(m.shape, np.uint8)
    for cx in (105, 160, 215):
        cv2.circle(dots, (cx, 120), 20, 1, -1)
    img[dots > 0] = rgb_of(PROTO["black"])
    a = analyze_lesion(img, m, params=SHARE_RULE)
    share = a.colors.shares[COLOR_NAMES.index("black")]
    assert a.colors.as_dict()["black"]
    true = dots.sum() / m.sum()
    assert 0.4 * true < share < 1.2 * true  # the reduction and smoothing blur the rims
    black = a.color_mask("black", m)
    assert black.shape == m.shape and not (black & ~m).any()
    assert (black & (dots > 0)).sum() > 0.6 * black.sum()


def _radial(fade: float) -> tuple[np.ndarray, np.ndarray]:
    """A dark disc on skin whose lightness ramps linearly over ``fade`` px around r = 60."""
    h = w = 241
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - 120, xx - 120)
    t = np.clip((r - 60) / max(fade, 1e-6) + 0.5, 0, 1)  # 0 inside .. 1 outside
    dark, skin = np.array([30.0, 15, 20]), np.array(REFERENCE_SKIN)
    lab = (dark[None, None] * (1 - t[..., None]) + skin[None, None] * t[..., None]).astype(np.float32)
    img = (cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255).round().astype(np.uint8)
    return img, r <= 60


def test_sharp_border_is_abrupt_all_round_and_a_fading_one_is_not():
    sharp = analyze_lesion(*_radial(0.0))
    assert sharp.border.score == 8
    assert min(sharp.border.abruptness) > 0.8
    fading = analyze_lesion(*_radial(60.0))
    assert fading.border.score == 0
    assert max(fading.border.abruptness) < AnalysisParams().border_abrupt
    assert sharp.border.compactness == pytest.approx(1.0, abs=0.15)
    assert 0.95 < sharp.border.solidity <= 1.0


def test_ragged_outline_is_less_compact_and_solid():
    h = w = 241
    yy, xx = np.mgrid[:h, :w]
    ang = np.arctan2(yy - 120, xx - 120)
    star = np.hypot(yy - 120, xx - 120) <= 60 + 25 * np.cos(7 * ang)
    img = canvas(h, w)
    img[star] = rgb_of(PROTO["dark_brown"])
    a = analyze_lesion(img, star)
    assert a.border.compactness > 1.5
    assert a.border.solidity < 0.85


def test_large_image_is_analysed_at_the_analysis_scale_with_the_same_criteria():
    img, m = canvas(), ellipse_mask()
    img[m] = rgb_of(PROTO["light_brown"])
    img[m & (np.arange(320)[None, :] < 160)] = rgb_of(PROTO["dark_brown"])
    small = analyze_lesion(img, m)
    big_img = cv2.resize(img, (1280, 960), interpolation=cv2.INTER_NEAREST)
    big_m = cv2.resize(m.astype(np.uint8), (1280, 960), interpolation=cv2.INTER_NEAREST) > 0
    big = analyze_lesion(big_img, big_m)
    assert big.scale == pytest.approx(256 / 1280)
    assert big.size.diameter_px == pytest.approx(4 * small.size.diameter_px, rel=0.01)
    assert big.size.area_px == pytest.approx(16 * small.size.area_px, rel=0.01)
    assert big.colors.present == small.colors.present
    assert big.asymmetry.value == small.asymmetry.value
    assert big.color_labels(big_m).shape == (960, 1280)


def test_a_lesion_reaching_the_image_edge_is_flagged():
    """A mask touching any side of the image: the lesion may run off it (its size is then a
    lower bound); one inside the image is not flagged."""
    img, m = canvas(), ellipse_mask()
    img[m] = rgb_of(PROTO["dark_brown"])
    inside = analyze_lesion(img, m)
    assert not inside.cut_by_edge and inside.to_dict()["cut_by_edge"] == 0
    for side in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1]):
        cut = m.copy()
        cut[side] = True  # lesion pixels along that side
        a = analyze_lesion(img, cut)
        assert a.cut_by_edge and a.to_dict()["cut_by_edge"] == 1
    # D of a lesion running off the image: "yes" when the part in view is over 6 mm, not
    # known otherwise (the whole lesion may be longer: a "no" was a guess)
    cut = m.copy()
    cut[:, 0] = True
    long_ = analyze_lesion(img, cut, mm_per_px=1.0)
    assert long_.size.diameter_mm > 6 and long_.diameter_over_6mm is True
    short = analyze_lesion(img, cut, mm_per_px=6.0 / (2 * long_.size.diameter_px))
    assert short.cut_by_edge and short.diameter_over_6mm is None
    assert short.to_dict()["diameter_over_6mm"] is None
    from dermview.report import d_text, measurement_rows

    assert d_text(short) == "not known: the lesion runs off the image"
    assert dict(measurement_rows(short))["D: diameter > 6 mm"] == d_text(short)
    whole = analyze_lesion(img, m, mm_per_px=6.0 / (2 * long_.size.diameter_px))
    assert whole.diameter_over_6mm is False and d_text(whole) == "no"


def test_to_dict_units_and_scale():
    img, m = canvas(), ellipse_mask()
    img[m] = rgb_of(PROTO["dark_brown"])
    px = analyze_lesion(img, m).to_dict()
    need = ["area_px", "area_mm2", "diameter_px", "diameter_mm", "asymmetry", "border_score",
            *(f"color_{c}" for c in COLOR_NAMES), "n_colors"]
    assert all(k in px for k in need)
    assert px["units"] == "px" and px["area_mm2"] is None and px["diameter_mm"] is None
    assert px["diameter_over_6mm"] is None
    assert px["tds"] is None and px["tds_missing"] == TDS_MISSING
    mm = analyze_lesion(img, m, mm_per_px=0.05).to_dict()
    assert mm["units"] == "mm"
    assert mm["diameter_mm"] == pytest.approx(mm["diameter_px"] * 0.05)
    assert mm["area_mm2"] == pytest.approx(mm["area_px"] * 0.0025)
    assert mm["diameter_over_6mm"] == int(mm["diameter_mm"] > 6)
    assert analyze_lesion(img, m, mm_per_px=0.01).to_dict()["diameter_over_6mm"] == 0  # 2 mm
    full = analyze_lesion(img, m, mm_per_px=0.05).to_json()
    text = json.dumps(full, allow_nan=False)  # JSON-ready, no NaN
    geo = json.loads(text)["geometry"]
    (a, b) = geo["diameter"]
    assert math.dist(a, b) == pytest.approx(mm["diameter_px"])


def test_bad_inputs_raise_clear_errors():
    img, m = canvas(), ellipse_mask()
    with pytest.raises(MaskError, match="empty"):
        analyze_lesion(img, np.zeros_like(m))
    with pytest.raises(MaskError, match="320×240"):
        analyze_lesion(img, m[:100])
    for bad in (0, -0.1, float("nan"), float("inf")):
        with pytest.raises(ParameterError, match="scale"):
            analyze_lesion(img, m, mm_per_px=bad)
    with pytest.raises(ParameterError, match="uint8"):
        analyze_lesion(img.astype(np.float32), m)
    with pytest.raises(ParameterError, match="Unknown colour"):
        analyze_lesion(img, m).color_mask("green")


def test_params_validate_and_round_trip():
    p = AnalysisParams()
    assert AnalysisParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    with pytest.raises(ParameterError):
        AnalysisParams(color_min_share=(0.1,) * 5)
    with pytest.raises(ParameterError):
        AnalysisParams(border_abrupt=1.5)
    with pytest.raises(ParameterError):
        AnalysisParams.from_dict({"colour": 1})


def test_defaults_are_the_values_fitted_in_the_committed_benchmark():
    res = json.loads((REPO / "docs" / "results" / "bench_analysis.json").read_text())
    assert AnalysisParams.from_dict(res["fit_all"]["params"]) == AnalysisParams()


@pytest.mark.parametrize("stem", ["IMD002", "IMD009", "ISIC_0000095", "ISIC_0024311"])
def test_bundled_samples(stem):
    d = REPO / "resources" / "samples"
    rgb = load_image(d / f"{stem}.jpg")
    m = load_mask(d / f"{stem}_segmentation.png", shape=rgb.shape[:2])
    a = analyze_lesion(rgb, m)
    assert a.asymmetry.value in (0, 1, 2)
    assert 0 <= a.border.score <= 8
    assert 1 <= a.colors.n_colors <= 6
    assert sum(a.colors.shares) <= 1.0 + 1e-9
    labels = a.color_labels(m)
    assert labels.shape == m.shape and not labels[~m].any()
    shown = set(np.unique(labels[labels > 0]).tolist())  # the map holds present colours only
    assert shown <= {k + 1 for k, p in enumerate(a.colors.present) if p}
    assert a.colors.n_colors == sum(a.colors.present)
    assert a.size.area_px == int(m.sum())


def _one_feature_model(picks: dict[int, tuple[str, float]]) -> ColorModel:
    """A colour model whose colour k is present when feature ``name`` ≥ ``cut``."""
    n = len(FEATURE_NAMES)
    coef = [[0.0] * n for _ in range(6)]
    cut = [1.0] * 6  # decision 0 - 1 < 0: absent
    for k, (name, c) in picks.items():
        coef[k][FEATURE_NAMES.index(name)] = 1.0
        cut[k] = c
    return ColorModel((0.0,) * n, (1.0,) * n, tuple(map(tuple, coef)), (0.0,) * 6, tuple(cut))


def test_color_features_are_measured_against_the_skin():
    rng = np.random.default_rng(0)
    lab = np.c_[rng.uniform(20, 60, 500), rng.uniform(0, 30, 500), rng.uniform(-10, 30, 500)]
    skin = np.array([70.0, 12.0, 15.0])
    f = pixel_features(lab, skin)
    names = FEATURE_NAMES[: len(f)]
    assert np.isfinite(f).all()
    get = dict(zip(names, f, strict=True))
    assert get["dL50"] == pytest.approx(np.median(lab[:, 0]) - 70.0)
    assert get["L<25"] == pytest.approx(np.log((lab[:, 0] < 25).mean() + 0.005))
    shifted = pixel_features(lab + [5.0, 0, 0], skin + [5.0, 0, 0])  # same lesion on lighter skin
    for name in ("dL5", "dL95", "dL>-10", "da50", "dC50"):
        assert dict(zip(names, shifted, strict=True))[name] == pytest.approx(get[name])


def _lab_disc(inner_l: float | None = None, ring_l: float | None = None):
    """A brown CIELAB disc (r 40 px) on skin, optionally with a light centre (r 12 px) or a
    light rim (the outer 3 px): (lab image, mask, skin)."""
    yy, xx = np.mgrid[:120, :120]
    r = np.hypot(yy - 60, xx - 60)
    skin = np.array([72.0, 12.0, 16.0], np.float32)
    lab = np.broadcast_to(skin, (120, 120, 3)).copy()
    m = r <= 40
    lab[m] = (40.0, 18.0, 24.0)
    if inner_l is not None:
        lab[r <= 12] = (inner_l, 4.0, 6.0)
    if ring_l is not None:
        lab[m & (r > 37)] = (ring_l, 4.0, 6.0)
    return lab, m, skin


def test_region_features_see_a_light_centre_not_a_light_rim():
    get = {}
    for key, kw in (("plain", {}), ("centre", {"inner_l": 70.0}), ("rim", {"ring_l": 70.0})):
        lab, m, skin = _lab_disc(**kw)
        f = region_features(lab, m, skin)
        assert f.shape == (len(REGION_FEATURE_NAMES),) and np.isfinite(f).all()
        get[key] = dict(zip(REGION_FEATURE_NAMES, f, strict=True))
        whole = color_features(lab, m, skin)
        assert whole.shape == (len(FEATURE_NAMES),)
        np.testing.assert_allclose(whole[-len(f):], f)
    share = np.pi * 12**2 / np.count_nonzero(_lab_disc()[1])  # the centre's share of the lesion
    centre = get["centre"]
    assert centre["cc(in&L>med+20)"] == pytest.approx(np.log(share + 0.005), abs=0.05)
    assert centre["cc(in&dL>-5)"] == pytest.approx(np.log(share + 0.005), abs=0.05)
    floor = np.log(0.005)  # nothing
    for name in ("cc(in&L>med+20)", "in&L>med+10", "cc(in&dL>-5)"):
        assert get["plain"][name] == pytest.approx(floor)
        assert get["rim"][name] == pytest.approx(floor)  # the rim is not the interior


def test_region_features_judge_red_against_the_skin_hue():
    lab, m, skin = _lab_disc()
    lab[m] = (50.0, 40.0, 10.0)  # hue 14 degrees, the skin's 53: much redder
    red = dict(zip(REGION_FEATURE_NAMES, region_features(lab, m, skin), strict=True))
    lab[m] = (50.0, 20.0, 26.0)  # hue 52 degrees: the skin's
    brown = dict(zip(REGION_FEATURE_NAMES, region_features(lab, m, skin), strict=True))
    assert red["dh<-25"] == pytest.approx(np.log(1.005))
    assert brown["dh<-10"] == pytest.approx(np.log(0.005))
    assert red["dh50"] == pytest.approx(np.degrees(np.arctan2(10, 40) - np.arctan2(16, 12)), abs=1e-3)


def test_color_model_decides_presence_and_keeps_n_colors_consistent():
    img, m = canvas(), ellipse_mask()
    img[m] = rgb_of(PROTO["light_brown"])
    img[m & (np.arange(320)[None, :] < 160)] = rgb_of(PROTO["black"])
    # black: present when over 30 % of the lesion has L* < 25; white: never (cut unreachable)
    model = _one_feature_model({5: ("L<25", float(np.log(0.3 + 0.005))), 0: ("L<25", 99.0)})
    a = analyze_lesion(img, m, params=AnalysisParams(color_model=model))
    assert a.colors.present == (False, False, False, False, False, True)
    assert a.colors.n_colors == 1
    labels = a.color_labels(m)
    assert set(np.unique(labels[m]).tolist()) <= {0, 6}  # only the present colour is mapped
    assert (labels == 6).sum() > 0.3 * m.sum()
    # the same image by the share rule names both halves
    b = analyze_lesion(img, m, params=SHARE_RULE)
    assert b.colors.as_dict()["light_brown"] and b.colors.as_dict()["black"]
    # nothing reaches its cut: the single most likely colour is present
    # (L<25 is about log 0.5 here: margins -0.19 dark brown, -0.39 blue-grey, -1 the others)
    none = _one_feature_model({3: ("L<25", -0.5), 4: ("L<25", -0.3)})
    c = analyze_lesion(img, m, params=AnalysisParams(color_model=none))
    assert c.colors.present == (False, False, False, True, False, False) and c.colors.n_colors == 1


def test_color_model_round_trip_and_validation():
    model = _one_feature_model({1: ("da>10", -2.0)})
    assert ColorModel.from_dict(json.loads(json.dumps(model.to_dict()))) == model
    p = AnalysisParams(color_model=model)
    assert AnalysisParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    other = {**model.to_dict(), "features": ["x"] * len(FEATURE_NAMES)}
    with pytest.raises(ParameterError, match="other colour features"):
        ColorModel.from_dict(other)
    with pytest.raises(ParameterError):
        ColorModel((0.0,) * 3, (1.0,) * 3, ((0.0,) * 3,) * 6, (0.0,) * 6, (0.0,) * 6)
    z = np.arange(len(FEATURE_NAMES), dtype=float)
    want = np.array(model.coef) @ z + np.array(model.bias) - np.array(model.cut)
    np.testing.assert_allclose(model.decision(z), want)


def test_report_pdf_holds_both_images_deflated(tmp_path):
    """The report embeds the two pictures as raw deflated RGB (no PNG round trip, no ASCII85
    pass), and reportlab's global setting is left as it was."""
    import re
    import zlib

    from reportlab import rl_config

    from dermview.report import ReportInfo, write_report

    img, m = canvas(), ellipse_mask()
    img[m] = rgb_of(PROTO["dark_brown"])
    before = rl_config.useA85
    pdf = write_report(tmp_path / "r.pdf", img, m, analyze_lesion(img, m), ReportInfo("x.png"))
    assert rl_config.useA85 == before
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and b"ASCII85Decode" not in data
    images = re.findall(rb"/Subtype /Image.*?/Width (\d+).*?stream\r?\n", data, re.S)
    assert len(images) == 2
    heads = [mt.end() for mt in re.finditer(rb"/Subtype /Image[^>]*>>\s*stream\r?\n", data)]
    raw = zlib.decompressobj().decompress(data[heads[0]:])
    assert len(raw) == img.shape[0] * img.shape[1] * 3  # the annotated image, full size


def test_the_report_says_the_asymmetry_in_words_as_the_panel_does():
    """Self-trial: the report read "0  (axes asymmetric: major no, minor no; …)" where the
    Lesion panel said "0  (symmetric about both axes)"."""
    from dataclasses import replace

    from dermview.report import a_text, measurement_rows

    a = analyze_lesion(canvas(), ellipse_mask())
    for flags, words in (((False, False), "symmetric about both axes"),
                         ((True, False), "asymmetric about the major axis"),
                         ((False, True), "asymmetric about the minor axis"),
                         ((True, True), "asymmetric about both axes")):
        b = replace(a, asymmetry=replace(a.asymmetry, asymmetric=flags, value=sum(flags)))
        assert a_text(b) == words
        row = dict(measurement_rows(b))["A: asymmetry (0-2)"]
        assert row.startswith(f"{sum(flags)}  ({words}; about the major / minor axis: shape ")
    one = replace(a, border=replace(a.border, score=1))
    assert dict(measurement_rows(one))["B: border (0-8)"].startswith("1 abrupt eighth  (")  # not "eighths"
