"""``analyze_lesion``: size, A (asymmetry), B (border), C (colours) and D of one lesion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from dermview.analysis.asymmetry import Asymmetry, assess_asymmetry
from dermview.analysis.border import Border, assess_border
from dermview.analysis.colors import Colors, find_colors, skin_colour, to_lab
from dermview.analysis.params import COLOR_NAMES, AnalysisParams
from dermview.analysis.size import Axes, Size, measure_size, principal_axes, region, scaled_axes
from dermview.errors import MaskError, ParameterError

#: Stolz's D (differential structures: network, dots, globules, streaks, structureless areas)
#: is not assessed from the image, so the total dermoscopy score is never computed here.
TDS_MISSING = "D (differential structures) is not assessed by dermview"

#: The diameter criterion of the ABCD(E) checklists, mm.
DIAMETER_LIMIT_MM = 6.0


@dataclass(frozen=True)
class LesionAnalysis:
    """Everything :func:`analyze_lesion` finds about one lesion.

    Attributes:
        size: measurements at full size (px; mm when ``mm_per_px`` is known).
        asymmetry: A, 0-2, with its scores.
        border: B, 0-8, with compactness and solidity.
        colors: C, which colours and how many, with a colour map at the analysis scale.
        mm_per_px: the scale, or ``None`` (sizes are then in px only).
        scale: analysis-scale px per full-size px (≤ 1).
        image_shape: ``(H, W)`` of the full-size image.
        analysis_shape: ``(h, w)`` of the image at the analysis scale.
        box: ``(row0, col0)`` of the analysed crop (the lesion and a margin of skin) in the
            analysis-scale image; ``colors.labels`` starts there.
        params: the parameters used.
        cut_by_edge: the mask reaches the image's edge, so the lesion may run off the image:
            its area and diameters are then only at least the measured ones, and A and B are
            judged on the part in view.
    """

    size: Size
    asymmetry: Asymmetry
    border: Border
    colors: Colors
    mm_per_px: float | None
    scale: float
    image_shape: tuple[int, int]
    analysis_shape: tuple[int, int]
    box: tuple[int, int]
    params: AnalysisParams
    cut_by_edge: bool = False

    @property
    def units(self) -> str:
        """``"mm"`` when the scale is known, else ``"px"``."""
        return "px" if self.mm_per_px is None else "mm"

    @property
    def diameter_over_6mm(self) -> bool | None:
        """Longest diameter > 6 mm; ``None`` without a scale (it is never guessed), and for a
        lesion :attr:`cut_by_edge` measured at 6 mm or less (the part in view is that long;
        the whole lesion may be longer)."""
        d = self.size.diameter_mm
        if d is None or (self.cut_by_edge and d <= DIAMETER_LIMIT_MM):
            return None
        return bool(d > DIAMETER_LIMIT_MM)

    @property
    def tds(self) -> float | None:
        """Stolz's total dermoscopy score; ``None`` while a term is missing (see
        :data:`TDS_MISSING`)."""
        return None

    @property
    def tds_missing(self) -> str:
        return TDS_MISSING

    def color_labels(self, mask: np.ndarray | None = None) -> np.ndarray:
        """The colour map at full size: ``uint8`` ``(H, W)``, 0 = none, k = COLOR_NAMES[k-1];
        brought up from the analysis scale, and clipped to ``mask`` (the analysed ``bool``
        ``(H, W)`` mask) when given."""
        import cv2

        h, w = self.image_shape
        small = np.zeros(self.analysis_shape, np.uint8)
        crop = self.colors.labels
        r0, c0 = self.box
        small[r0:r0 + crop.shape[0], c0:c0 + crop.shape[1]] = crop
        full = small if small.shape == (h, w) else cv2.resize(small, (w, h),
                                                               interpolation=cv2.INTER_NEAREST)
        if mask is not None:
            full[~np.asarray(mask, bool)] = 0
        return full

    def color_mask(self, name: str, mask: np.ndarray | None = None) -> np.ndarray:
        """``bool`` ``(H, W)``: the lesion pixels named ``name`` (one of COLOR_NAMES), clipped
        to ``mask`` when given (see :meth:`color_labels`)."""
        if name not in COLOR_NAMES:
            raise ParameterError(f"Unknown colour {name!r}; one of {', '.join(COLOR_NAMES)}")
        return self.color_labels(mask) == COLOR_NAMES.index(name) + 1

    def to_dict(self) -> dict[str, Any]:
        """Flat columns (one CSV row, the sidecar's ``analysis``): numbers, booleans as 0/1,
        ``None`` for what is unknown (a mm value without a scale)."""
        s, a, b, c = self.size, self.asymmetry, self.border, self.colors
        row: dict[str, Any] = {
            "units": self.units, "mm_per_px": self.mm_per_px,
            "area_px": s.area_px, "area_mm2": s.area_mm2,
            "perimeter_px": s.perimeter_px, "perimeter_mm": s.perimeter_mm,
            "diameter_px": s.diameter_px, "diameter_mm": s.diameter_mm,
            "width_px": s.width_px, "width_mm": s.width_mm,
            "equivalent_diameter_px": s.equivalent_diameter_px,
            "equivalent_diameter_mm": s.equivalent_diameter_mm,
            "diameter_over_6mm": None if self.diameter_over_6mm is None else int(self.diameter_over_6mm),
            "cut_by_edge": int(self.cut_by_edge),
            "asymmetry": a.value,
            "asymmetry_shape_major": a.shape[0], "asymmetry_shape_minor": a.shape[1],
            "asymmetry_color_major": a.color[0], "asymmetry_color_minor": a.color[1],
            "border_score": b.score, "compactness": b.compactness, "solidity": b.solidity,
        }
        row.update({f"color_{n}": int(p) for n, p in zip(COLOR_NAMES, c.present, strict=True)})
        row["n_colors"] = c.n_colors
        row.update({f"share_{n}": v for n, v in zip(COLOR_NAMES, c.shares, strict=True)})
        row["tds"] = self.tds
        row["tds_missing"] = None if self.tds is not None else self.tds_missing
        return row

    def geometry(self) -> dict[str, Any]:
        """Where the measures come from, full-size (row, col) px: the principal axes, the
        longest diameter and the width across it, the abruptness of each eighth."""
        s = self.size
        return {
            "centroid": list(s.axes.centroid),
            "major_axis": [list(p) for p in s.axes.major_segment],
            "minor_axis": [list(p) for p in s.axes.minor_segment],
            "diameter": [list(p) for p in s.diameter_segment],
            "width": [list(p) for p in s.width_segment],
            "border_abruptness": [None if not np.isfinite(r) else r for r in self.border.abruptness],
        }

    def to_json(self) -> dict[str, Any]:
        """:meth:`to_dict` plus :meth:`geometry` and the parameters (sidecar, ``--json``)."""
        return {**self.to_dict(), "geometry": self.geometry(), "params": self.params.to_dict()}


def _check(rgb: np.ndarray, mask: np.ndarray, mm_per_px: float | None) -> np.ndarray:
    if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3
            and rgb.shape[2] == 3):
        raise ParameterError("The image must be an RGB uint8 array of shape (H, W, 3)")
    mask = np.asarray(mask).astype(bool)
    if mask.shape != rgb.shape[:2]:
        raise MaskError(f"The mask is {mask.shape[1]}×{mask.shape[0]} px but the image is "
                        f"{rgb.shape[1]}×{rgb.shape[0]} px")
    if mm_per_px is not None and not (np.isfinite(mm_per_px) and mm_per_px > 0):
        raise ParameterError(f"The scale must be a positive number of mm per pixel, got {mm_per_px!r}")
    return mask


def _reduce(rgb: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Image and mask with longest side ``size`` at most (area averaging), and the factor."""
    import cv2

    h, w = mask.shape
    f = min(1.0, size / max(h, w))
    if f == 1.0:
        return rgb, mask, 1.0
    dsize = (max(1, round(w * f)), max(1, round(h * f)))
    small = cv2.resize(rgb, dsize, interpolation=cv2.INTER_AREA)
    m = cv2.resize(mask.astype(np.float32), dsize, interpolation=cv2.INTER_AREA) >= 0.5
    if not m.any():
        m = cv2.resize(mask.astype(np.uint8), dsize, interpolation=cv2.INTER_NEAREST) > 0
    if not m.any():
        raise MaskError("The lesion is too small to analyse (under one pixel at the analysis scale)")
    return small, m, dsize[0] / w


def _crop(rgb: np.ndarray, mask: np.ndarray) -> tuple[tuple[int, int], np.ndarray, np.ndarray]:
    """The lesion's bounding box plus a margin of 30 % of its equivalent diameter (room for
    the skin ring and the border bands): ``((row0, col0), rgb, mask)``."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    pad = int(np.ceil(0.3 * np.sqrt(4 * mask.sum() / np.pi))) + 2
    r0, r1 = max(0, rows[0] - pad), min(mask.shape[0], rows[-1] + pad + 1)
    c0, c1 = max(0, cols[0] - pad), min(mask.shape[1], cols[-1] + pad + 1)
    return (int(r0), int(c0)), rgb[r0:r1, c0:c1], mask[r0:r1, c0:c1]


def smoothed_lab(rgb: np.ndarray, mask: np.ndarray, fraction: float = 0.02) -> np.ndarray:
    """CIELAB of the image blurred over ``fraction`` (default about 2 %) of the lesion's
    equivalent diameter, at least 1 px (colour is judged over regions, not single pixels;
    JPEG noise and fine network average out): ``float32`` ``(h, w, 3)``."""
    import cv2

    sigma = max(1.0, fraction * float(np.sqrt(4 * mask.sum() / np.pi)))
    return to_lab(cv2.GaussianBlur(rgb, (0, 0), sigma))


#: Blur of the CIELAB the colour model's features are measured on, as a fraction of the
#: equivalent diameter: half the map's, so that small white, red and black areas keep their
#: colour (in 5-fold CV on PH2 it beat 2 % and no blur; README, analysis section).
FEATURE_BLUR = 0.01


def fine_lab(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The CIELAB the colour features are measured on (:data:`FEATURE_BLUR`)."""
    return smoothed_lab(rgb, mask, FEATURE_BLUR)


class Prepared(NamedTuple):
    """The lesion at the analysis scale, cropped (see :func:`prepare`)."""

    rgb: np.ndarray  # uint8 (h, w, 3) crop
    mask: np.ndarray  # bool (h, w)
    lab: np.ndarray  # float32 (h, w, 3) smoothed CIELAB
    skin: np.ndarray  # (3,) CIELAB of the surrounding skin
    axes: Axes  # principal axes in crop coordinates
    scale: float  # analysis px per full-size px
    analysis_shape: tuple[int, int]
    box: tuple[int, int]  # (row0, col0) of the crop at the analysis scale


def prepare(rgb: np.ndarray, mask: np.ndarray, params: AnalysisParams,
            axes: Axes | None = None) -> Prepared:
    """Reduce to the analysis scale, crop around the lesion, smooth, convert to CIELAB, find
    the skin colour; the principal axes are ``axes`` (full size) moved onto the crop, or
    computed on it (``rgb``/``mask`` already checked)."""
    small, m_full, f = _reduce(rgb, mask, params.analysis_size)
    box, rgb_c, m = _crop(small, m_full)
    lab = smoothed_lab(rgb_c, m)
    eq_d = float(np.sqrt(4 * m.sum() / np.pi))
    skin = skin_colour(lab, m, band_px=max(2.0, 0.1 * eq_d))
    # a pixel (r, c) at full size is at ((r + 0.5) f - 0.5) at the analysis scale
    crop_axes = (principal_axes(region(m)) if axes is None else
                 scaled_axes(axes, f, (box[0] + 0.5 - 0.5 * f, box[1] + 0.5 - 0.5 * f)))
    return Prepared(rgb_c, m, lab, skin, crop_axes, f,
                    (int(m_full.shape[0]), int(m_full.shape[1])), box)


def analyze_lesion(rgb: np.ndarray, mask: np.ndarray, mm_per_px: float | None = None,
                   params: AnalysisParams | None = None) -> LesionAnalysis:
    """Measure a lesion and assess the dermoscopic A, B and C criteria.

    Args:
        rgb: ``uint8`` ``(H, W, 3)`` RGB image (best with frame and hair removed).
        mask: ``bool`` ``(H, W)`` lesion mask (any pieces are analysed together).
        mm_per_px: the image's scale in mm per pixel, or ``None`` when unknown (sizes then
            stay in px; nothing is guessed).
        params: :class:`AnalysisParams` (defaults tuned on PH2).

    Raises:
        MaskError: the mask is empty or does not fit the image.
        ParameterError: the image or the scale is invalid.
    """
    params = AnalysisParams() if params is None else params
    mask = _check(rgb, mask, mm_per_px)
    props = region(mask)
    size = measure_size(mask, mm_per_px, props)
    p = prepare(rgb, mask, params, size.axes)
    colors = find_colors(p.lab, p.mask, params, p.skin,
                         None if params.color_model is None else fine_lab(p.rgb, p.mask))
    asym = assess_asymmetry(p.lab, p.mask, p.axes, params)
    light = to_lab(p.rgb)[..., 0]  # the border's cut-off is judged on the unsmoothed image
    border = assess_border(light, p.mask, p.axes, size, params, valid=light > 25)
    edge = bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
    return LesionAnalysis(size, asym, border, colors, mm_per_px, p.scale,
                          (int(mask.shape[0]), int(mask.shape[1])), p.analysis_shape, p.box,
                          params, cut_by_edge=edge)
