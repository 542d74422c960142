"""One-page PDF case report (ReportLab): the image with the outline and the measured axes,
the colour map, the measurements and criteria, provenance and review.

:func:`write_report` takes plain data (an image, a mask, a :class:`LesionAnalysis`, a
:class:`ReportInfo`), so the CLI (``analyze --report``) and the app's File → Export report…
call the same function.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dermview.analysis import COLOR_LABELS, LesionAnalysis
from dermview.errors import WriteError
from dermview.report_fonts import report_fonts, shorten, wrap  # reportlab imported on first use
from dermview.wording import counted

#: RGB of each colour in the colour map (COLOR_NAMES order).
COLOR_SWATCHES: tuple[tuple[int, int, int], ...] = (
    (245, 245, 245), (220, 30, 40), (196, 140, 90), (110, 60, 30), (90, 120, 170), (20, 20, 20),
)


@dataclass(frozen=True)
class ReportInfo:
    """What the report says besides the analysis (empty strings are shown as "—").

    Attributes:
        image_name: the image file name.
        model: segmentation model name and weights SHA-256 (or "expert mask", "manual").
        preprocessing: the frame / hair removal settings used.
        reviewer, review_state, comment: the review.
        date: when the report was made (ISO 8601 text).
        label_saved: when the label shown was last saved (ISO 8601; "" when it is not saved).
        app_version: the dermview version.
        extra: further (label, value) lines, e.g. classifier probabilities.
        scale_source: where the mm per pixel came from, in words (a ruler calibration and
            the images it was made on, the DICOM pixel spacing, the command line).
    """

    image_name: str
    model: str = ""
    preprocessing: str = ""
    reviewer: str = ""
    review_state: str = ""
    comment: str = ""
    date: str = ""
    label_saved: str = ""
    app_version: str = ""
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    scale_source: str = ""



def classifier_model_text(name: str = "", sha256: str = "", temperature: float | None = None) -> str:
    """How the report names the classifier that gave the probabilities: its name, the
    weights' SHA-256 (first 12) and the calibration temperature ("" when nothing is known)."""
    details = [f"SHA-256 {sha256[:12]}…" if sha256 else "",
               f"temperature {temperature:.2f}" if temperature is not None else ""]
    details = [d for d in details if d]
    text = (name or ("lesion classifier" if details else "")) + (
        f" ({', '.join(details)})" if details else "")
    return text


def classifier_lines(probs: dict[str, float], model: str = "") -> tuple[tuple[str, str], ...]:
    """The case report's diagnosis-support lines for the calibrated probabilities ``probs``
    (keys :data:`dermview.model.classifier.PROB_KEYS`, values in ``[0, 1]``), and the
    classifier that gave them (``model``: :func:`classifier_model_text`; the report named
    the segmentation model only, so which network said "Melanoma 0.40" was nowhere)."""
    from dermview.model.classifier import CLASS_TITLES, PROB_KEYS, shown_probabilities

    # named as the Diagnosis panel's bars name them ("Naevus", not "nevus"); the shown values
    # add up to 1.00 as the panel's do
    shown = shown_probabilities({key: float(probs[key]) for key in PROB_KEYS})
    text = ", ".join(f"{CLASS_TITLES[key]} {shown[key]}" for key in PROB_KEYS)
    return (("Classifier (calibrated)", text),
            *((("Classifier model", model),) if model else ()),
            ("", "decision support for research use only, not a diagnosis"))

def _line(img: np.ndarray, seg, colour, f: float, width: int) -> None:
    import cv2

    (r0, c0), (r1, c1) = seg
    cv2.line(img, (round(c0 * f), round(r0 * f)), (round(c1 * f), round(r1 * f)), colour, width,
             cv2.LINE_AA)


def annotated_image(rgb: np.ndarray, mask: np.ndarray, analysis: LesionAnalysis,
                    longest: int = 900) -> np.ndarray:
    """RGB ``uint8`` copy (longest side ``longest``) with the outline (green), the principal
    axes (yellow) and the longest diameter (cyan) drawn."""
    import cv2

    h, w = mask.shape
    f = min(1.0, longest / max(h, w))
    size = (max(1, round(w * f)), max(1, round(h * f)))
    img = np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
    m = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    thick = max(1, round(max(size) / 300))
    cv2.drawContours(img, contours, -1, (40, 230, 60), thick, cv2.LINE_AA)
    s = analysis.size
    _line(img, s.axes.major_segment, (255, 220, 0), f, thick)
    _line(img, s.axes.minor_segment, (255, 220, 0), f, thick)
    _line(img, s.diameter_segment, (0, 220, 255), f, thick)
    return img


def color_map_image(rgb: np.ndarray, mask: np.ndarray, analysis: LesionAnalysis,
                    longest: int = 450) -> np.ndarray:
    """RGB ``uint8``: the image greyed, each named lesion pixel painted in its colour's swatch."""
    import cv2

    labels = analysis.color_labels(mask)
    h, w = labels.shape
    f = min(1.0, longest / max(h, w))
    size = (max(1, round(w * f)), max(1, round(h * f)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    lab = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
    grey = cv2.cvtColor(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    out = (grey.astype(np.float32) * 0.6 + 100).clip(0, 255).astype(np.uint8)
    lut = np.array([(0, 0, 0), *COLOR_SWATCHES], np.uint8)
    named = lab > 0
    out[named] = lut[lab[named]]
    return out


def _image(img: np.ndarray):
    """``uint8`` ``(H, W, 3)`` array as a reportlab image (it deflates the raw pixels itself:
    no PNG round trip)."""
    from PIL import Image
    from reportlab.lib.utils import ImageReader

    return ImageReader(Image.fromarray(img))


def _readable_time(iso: str) -> str:
    """``2026-12-02T19:06:02.760Z`` → ``2026-12-02 19:06 UTC`` (other text unchanged)."""
    if len(iso) >= 16 and iso[10] == "T" and iso.endswith("Z"):
        return f"{iso[:10]} {iso[11:16]} UTC"
    return iso


def _fmt(value: float | None, unit: str, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f} {unit}"


#: What the report and the Lesion panel say of a lesion whose outline reaches the image edge.
CUT_BY_EDGE = ("runs off the image: area and diameters are at least these, A and B are "
               "judged on the part in view")


def d_text(a: LesionAnalysis) -> str:
    """The D criterion in words, once the scale is known: yes, no, or not known for a lesion
    running off the image whose part in view is 6 mm or less (a "no" there was a guess)."""
    if a.diameter_over_6mm is None:
        return "not known: the lesion runs off the image" if a.cut_by_edge else \
            "not known without a scale"
    return "yes" if a.diameter_over_6mm else "no"


def a_text(a: LesionAnalysis) -> str:
    """The A criterion in words: which principal axes the lesion is asymmetric about."""
    axes = [name for name, flag in zip(("major", "minor"), a.asymmetry.asymmetric, strict=True) if flag]
    if len(axes) == 1:
        return f"asymmetric about the {axes[0]} axis"
    return "asymmetric about both axes" if axes else "symmetric about both axes"


def measurement_rows(a: LesionAnalysis, scale_source: str = "") -> list[tuple[str, str]]:
    """(label, value) lines of the report's measurement table; mm when the scale is known,
    otherwise px with the reason. ``scale_source`` says where the scale came from (the
    report gave a bare "0.07583 mm/px", though the app warned that it was calibrated on
    images of another size)."""
    s = a.size
    mm = a.mm_per_px is not None
    # as many digits as the Lesion panel's Scale box (the report's "0.05" beside its 0.050004)
    rows = [("Scale", (f"{a.mm_per_px:.5g} mm/px" + (f" ({scale_source})" if scale_source else ""))
             if mm else "unknown: sizes in pixels" + (f" ({scale_source})" if scale_source else ""))]
    if a.cut_by_edge:
        rows.append(("Lesion", CUT_BY_EDGE))
    if mm:
        rows += [("Area", f"{s.area_mm2:.1f} mm² ({s.area_px} px)"),
                 ("Longest diameter", f"{s.diameter_mm:.2f} mm ({s.diameter_px:.0f} px)"),
                 ("Width across it", f"{s.width_mm:.2f} mm"),
                 ("Perimeter", f"{s.perimeter_mm:.1f} mm"),
                 ("D: diameter > 6 mm", d_text(a))]
    else:
        rows += [("Area", f"{s.area_px} px"), ("Longest diameter", f"{s.diameter_px:.0f} px"),
                 ("Width across it", f"{s.width_px:.0f} px"),
                 ("Perimeter", f"{s.perimeter_px:.0f} px"),
                 ("D: diameter > 6 mm", "not known without a scale")]
    asym, b, c = a.asymmetry, a.border, a.colors
    present = [lbl for lbl, p in zip(COLOR_LABELS, c.present, strict=True) if p]
    rows += [
        # "axes asymmetric: major no, minor no" beside a 0 read as a riddle (self-trial)
        ("A: asymmetry (0-2)", f"{asym.value}  ({a_text(a)}; about the major / minor axis: "
                               f"shape {asym.shape[0]:.2f}/{asym.shape[1]:.2f}, colour dE "
                               f"{asym.color[0]:.1f}/{asym.color[1]:.1f})"),
        ("B: border (0-8)", f"{counted(b.score, 'abrupt eighth')}  (compactness {b.compactness:.2f}, "
                            f"solidity {b.solidity:.2f})"),
        ("C: colours (1-6)", f"{c.n_colors}: {', '.join(present)}"),
        ("Total dermoscopy score", f"not given: {a.tds_missing}" if a.tds is None else f"{a.tds:.2f}"),
    ]
    return rows


#: Review states that name a reviewer (the verdict's first word: "accepted (not saved yet)").
REVIEWED = ("accepted", "corrected", "rejected")


def provenance_rows(info: ReportInfo) -> list[tuple[str, str]]:
    """The report's "Provenance and review" rows. The person is called the reviewer only
    when the mask was reviewed: an unreviewed model mask (Segment all) is only saved by
    or edited by someone, who had not reviewed it ("Reviewer: root" beside "not
    reviewed"): "Prepared by"."""
    dash = "—"
    reviewed = (info.review_state.split() or [""])[0] in REVIEWED
    # "Segmentation model": beside "Classifier model" a bare "Model" did not say which
    return [("Image", info.image_name or dash), ("Segmentation model", info.model or dash), ("Preprocessing", info.preprocessing or dash),
            ("Reviewer" if reviewed else "Prepared by", info.reviewer or dash),
            ("Review state", info.review_state or dash),
            ("Comment", info.comment or dash), ("Label saved", _readable_time(info.label_saved) or dash),
            # "Date" alone read as the date of the review: it is the report's
            ("Report made", _readable_time(info.date) or dash),
            ("dermview", info.app_version or dash), *info.extra]


def write_report(path: str | Path, rgb: np.ndarray, mask: np.ndarray, analysis: LesionAnalysis,
                 info: ReportInfo) -> Path:
    """Write the one-page A4 PDF case report to ``path``.

    Args:
        rgb: ``uint8`` ``(H, W, 3)`` image; ``mask``: ``bool`` ``(H, W)`` lesion.
        analysis: :func:`dermview.analysis.analyze_lesion` of that image and mask.
        info: provenance and review (:class:`ReportInfo`).

    Raises:
        WriteError: the file cannot be written.
    """
    from reportlab import rl_config

    path = Path(path)
    buf = io.BytesIO()
    # Binary (deflated) streams: reportlab's default also wraps them in ASCII85, a pure-Python
    # pass over the image data (about half the report's time) that makes the file 25 % larger.
    a85, rl_config.useA85 = rl_config.useA85, 0
    try:
        _write(buf, rgb, mask, analysis, info)
    finally:
        rl_config.useA85 = a85
    try:
        from dermview.io import atomic_write_bytes

        atomic_write_bytes(path, buf.getvalue())
    except OSError as exc:
        raise WriteError(f"Cannot write the report {path}: {exc}") from None
    return path


def _write(buf: io.BytesIO, rgb: np.ndarray, mask: np.ndarray, analysis: LesionAnalysis,
           info: ReportInfo) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    regular, bold, oblique = report_fonts()
    pdf = canvas.Canvas(buf, pagesize=A4, pageCompression=1)
    pdf.setTitle(f"dermview case report: {info.image_name}")
    width, height = A4
    x0, y = 15 * mm, height - 18 * mm
    pdf.setFont(bold, 15)
    pdf.drawString(x0, y, "Lesion report")
    room = width - 2 * x0 - stringWidth("Lesion report", bold, 15) - 8 * mm
    pdf.setFont(regular, 9)
    when = _readable_time(info.date)
    # a long file name ran over the title and off the page: shortened here, whole in the
    # table below
    name = shorten(info.image_name, regular, 9, room - stringWidth(f"   {when}", regular, 9))
    pdf.drawRightString(width - x0, y, f"{name}   {when}")
    y -= 6 * mm
    y = _draw_images(pdf, rgb, mask, analysis, x0, y, width - 2 * x0)
    y = _table(pdf, "Measurements and criteria", measurement_rows(analysis, info.scale_source), x0, y,
               width - 2 * x0)
    y = _table(pdf, "Provenance and review", provenance_rows(info), x0, y - 4 * mm,
               width - 2 * x0)
    pdf.setFont(oblique, 7)
    pdf.drawString(x0, 12 * mm, "Computed by dermview from the lesion outline; a decision aid for a "
                   "clinician, not a diagnosis. A/B/C follow the ABCD rule of dermoscopy (Stolz).")
    pdf.showPage()
    pdf.save()


def _draw_images(pdf, rgb, mask, analysis, x0: float, top: float, span: float) -> float:
    """The annotated image and the colour map side by side, a caption and the colour legend
    below them; returns the y below the legend."""
    from reportlab.lib.units import mm

    box_h = 85 * mm
    gap = 5 * mm
    w_each = (span - gap) / 2
    bottom = top
    for i, img in enumerate((annotated_image(rgb, mask, analysis), color_map_image(rgb, mask, analysis))):
        ih, iw = img.shape[:2]
        scale = min(w_each / iw, box_h / ih)
        dw, dh = iw * scale, ih * scale
        pdf.drawImage(_image(img), x0 + i * (w_each + gap) + (w_each - dw) / 2, top - dh,
                      width=dw, height=dh)
        bottom = min(bottom, top - dh)
    y = bottom - 4 * mm
    pdf.setFont(report_fonts()[0], 7.5)
    pdf.drawString(x0, y, "Left: outline (green), principal axes (yellow), longest diameter (cyan). "
                   "Right: the colours found, painted as in the legend:")
    y -= 5 * mm
    x = x0
    for label, rgbc in zip(COLOR_LABELS, COLOR_SWATCHES, strict=True):
        pdf.setFillColorRGB(*(v / 255 for v in rgbc))
        pdf.rect(x, y - 0.6 * mm, 3 * mm, 3 * mm, fill=1, stroke=1)
        pdf.setFillColorRGB(0, 0, 0)
        pdf.drawString(x + 4 * mm, y, label)
        x += 25 * mm
    return y - 8 * mm


def _table(pdf, title: str, rows: list[tuple[str, str]], x0: float, y: float, span: float) -> float:
    from reportlab.lib.units import mm

    regular, bold, _ = report_fonts()
    pdf.setFont(bold, 11)
    pdf.drawString(x0, y, title)
    y -= 6 * mm
    col = 45 * mm
    for label, value in rows:
        pdf.setFont(bold, 9)
        pdf.drawString(x0, y, label)
        pdf.setFont(regular, 9)
        lines = wrap(str(value), regular, 9, span - col)  # long values, long file names
        for i, line in enumerate(lines):
            pdf.drawString(x0 + col, y, line)
            y -= 4.5 * mm if i < len(lines) - 1 else 5.5 * mm
    return y
