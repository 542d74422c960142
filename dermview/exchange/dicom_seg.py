"""DICOM SEG out (and back in) with highdicom.

A label becomes a BINARY Segmentation with one segment, *lesion* (category SCT 49755003
"Morphologically abnormal structure", type SCT 52988006 "Lesion", anatomic region SCT 39937001
"Skin"), written as ``<stem>_segmentation.dcm``:

- for a DICOM source it references the source instance (same Study, its Series and SOP
  Instance UIDs; patient and study attributes copied from the source by highdicom);
- for any other image it references a new study holding the image as a Secondary Capture,
  written beside the SEG as ``<stem>_image.dcm`` (UIDs derived from the image's SHA-256, so
  exporting the same image again gives the same study).

The producing software (Manufacturer / Model "dermview", Software Versions) and the model
(Algorithm Identification: name, SHA-256 of the weights as version) are in the header.
"""

from __future__ import annotations

import gc
import io
import re
from pathlib import Path
from typing import Any

import numpy as np

from dermview import __version__
from dermview.errors import ImageReadError, MaskError, WriteError
from dermview.io import atomic_write_bytes

__all__ = ["SEG_SUFFIX", "SC_SUFFIX", "seg_paths", "dicom_seg_targets", "build_segmentation", "build_secondary_capture", "secondary_capture_uid",
           "write_dicom_seg", "read_dicom_seg", "read_dicom_seg_attributes", "seg_attributes"]

#: ``<stem>`` + this is the SEG file; ``<stem>`` + :data:`SC_SUFFIX` the secondary capture.
SEG_SUFFIX = "_segmentation.dcm"
SC_SUFFIX = "_image.dcm"

_MANUFACTURER = "dermview"
_TABLES_LOADED = False


def _highdicom() -> Any:
    """``highdicom``, with its tables of the DICOM standard (15 MB of JSON that it parses on
    first use) loaded once with the garbage collector paused: the collections that its
    200,000 new objects trigger doubled the parse time (0.3 s against 0.7 s, measured)."""
    global _TABLES_LOADED
    import highdicom as hd

    if not _TABLES_LOADED:
        try:
            from highdicom import _standard_utils as std

            loaders = [std.get_module_attribute_map, std.get_iod_module_map,
                       std.get_sop_class_iod_map]
        except (ImportError, AttributeError):  # another highdicom: it loads them itself
            loaders = []
        enabled = gc.isenabled()
        gc.disable()
        try:
            for load in loaders:
                load()
        finally:
            if enabled:
                gc.enable()
        _TABLES_LOADED = True
    return hd


def seg_paths(image_path: Path, out_dir: Path) -> tuple[Path, Path | None]:
    """``(seg, secondary capture or None)`` paths written for an image."""
    from dermview.dicom import is_dicom_file

    seg = out_dir / f"{image_path.stem}{SEG_SUFFIX}"
    return seg, None if is_dicom_file(image_path) else out_dir / f"{image_path.stem}{SC_SUFFIX}"


def dicom_seg_targets(image_path: Path, out_dir: Path) -> list[Path]:
    """The files :func:`write_dicom_seg` writes for an image (for existence checks)."""
    return [p for p in seg_paths(image_path, out_dir) if p is not None]


def _segment_description(model_name: str, model_sha256: str, edited: bool) -> Any:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    algorithm = None
    kind = "MANUAL"
    if model_name:
        kind = "SEMIAUTOMATIC" if edited else "AUTOMATIC"
        algorithm = hd.AlgorithmIdentificationSequence(
            name=model_name[:64], family=codes.cid7162.ArtificialIntelligence,
            version=(model_sha256 or "unknown")[:64], source=_MANUFACTURER)
    return hd.seg.SegmentDescription(
        segment_number=1, segment_label="lesion",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Lesion,
        algorithm_type=kind, algorithm_identification=algorithm,
        anatomic_regions=[codes.SCT.Skin])


def _pixel_measures(source: Any) -> Any:
    """The SEG's Pixel Measures for a source with Pixel Spacing (None otherwise: highdicom
    then writes none).

    highdicom writes a 2-D source's Pixel Spacing without a Slice Thickness, which the
    standard allows, but its reader (``segread``, 0.28) refuses such a SEG: the thickness is
    stated as the row spacing, a voxel as deep as it is wide, the usual convention for a
    photograph, which has no thickness and no Frame of Reference that would use one.
    """
    import highdicom as hd

    spacing = source.get("PixelSpacing")
    if not spacing or len(spacing) != 2:
        return None
    thickness = source.get("SliceThickness") or float(spacing[0])
    return hd.PixelMeasuresSequence(pixel_spacing=[float(v) for v in spacing],
                                    slice_thickness=float(thickness))


def build_segmentation(mask: np.ndarray, source: Any, *, model_name: str = "",
                       model_sha256: str = "", edited: bool = False,
                       reviewer: str = "", comment: str = "", comment_by: str = "") -> Any:
    """The SEG dataset of ``mask`` (``(H, W)``, non-zero = lesion) on ``source`` (a pydicom
    dataset of the image, pixel data not needed).

    ``model_name`` empty: a MANUAL segment; otherwise AUTOMATIC (SEMIAUTOMATIC if ``edited``)
    with the model as the algorithm. ``reviewer``: who accepted or corrected the mask, as
    Content Creator's Name (empty: a mask nobody reviewed, the attribute present and empty).
    ``comment``: the review comment, as Image Comments, with :func:`comment_by_line` naming
    ``comment_by`` when someone other than the reviewer wrote it.
    """
    hd = _highdicom()
    from pydicom.uid import generate_uid

    arr = np.asarray(mask)
    if arr.ndim != 2 or arr.shape != (int(source.Rows), int(source.Columns)):
        raise MaskError(f"The mask ({arr.shape}) does not match the image "
                        f"({source.Columns}×{source.Rows}); no DICOM SEG was written")
    seg = hd.seg.Segmentation(
        source_images=[source], pixel_array=(arr != 0)[None].astype(np.uint8),
        pixel_measures=_pixel_measures(source),
        segmentation_type="BINARY",
        segment_descriptions=[_segment_description(model_name, model_sha256, edited)],
        series_instance_uid=generate_uid(), series_number=int(source.get("SeriesNumber") or 0) + 100,
        sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer=_MANUFACTURER, manufacturer_model_name=_MANUFACTURER,
        software_versions=__version__, device_serial_number="0",
        content_label="LESION", content_description="Lesion segmentation by dermview",
        content_creator_name=reviewer or None, omit_empty_frames=False)
    seg.SeriesDescription = f"dermview lesion segmentation{f' ({model_name})' if model_name else ''}"[:64]
    # General Image: Patient Orientation is Type 2C (a photograph has no image orientation);
    # keep the source's, else present and empty (the photo's orientation is unknown).
    seg.PatientOrientation = source.get("PatientOrientation", "")
    # a reviewer "Ana Ruíz" (or a source's patient name) was written in Latin-1 under the
    # default repertoire, which is ASCII (dciodvfy: an error; readers garble it): UTF-8, said
    seg.SpecificCharacterSet = "ISO_IR 192"
    if "ContentCreatorName" not in seg:  # Type 2: present and empty when nobody reviewed it
        seg.ContentCreatorName = ""
    if comment.strip():  # the colleague reading the SEG sees the note the report prints
        by = comment_by.strip()
        seg.ImageComments = comment.strip() + (comment_by_line(by) if by and by != reviewer else "")
    return seg


def comment_by_line(name: str) -> str:
    """What Image Comments end with when the comment is ``name``'s, not the reviewer's."""
    return f"\n(comment by {name})"


def _comment_attributes(text: str) -> dict[str, str]:
    """``comment`` (and ``comment_by``) of an Image Comments text :func:`build_segmentation`
    wrote (another tool's comment is all ``comment``)."""
    found = re.fullmatch(r"(?s)(.*)\n\(comment by ([^\n]+)\)", text)
    if found and found.group(1).strip():
        return {"comment": found.group(1).strip(), "comment_by": found.group(2).strip()}
    return {"comment": text} if text else {}


def secondary_capture_uid(image_sha256: str, kind: str = "image") -> str:
    """The UID (``kind``: study, series or image) of the secondary capture of the image whose
    file has SHA-256 ``image_sha256``: the same image always gets the same UIDs."""
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=[image_sha256, kind])


def build_secondary_capture(rgb: np.ndarray, image_sha256: str) -> Any:
    """A Secondary Capture dataset of an RGB ``uint8`` ``(H, W, 3)`` image in a new study.

    Its Study/Series/SOP Instance UIDs are derived from ``image_sha256``. Patient attributes
    are present and empty (a JPEG carries none); orientation and laterality are unknown.
    """
    hd = _highdicom()

    def uid(kind: str) -> str:
        return secondary_capture_uid(image_sha256, kind)

    sc = hd.sc.SCImage(
        pixel_array=np.ascontiguousarray(rgb, dtype=np.uint8), photometric_interpretation="RGB",
        bits_allocated=8, coordinate_system="PATIENT", patient_orientation=("L", "F"),
        study_instance_uid=uid("study"), series_instance_uid=uid("series"), series_number=1,
        sop_instance_uid=uid("image"), instance_number=1, manufacturer=_MANUFACTURER,
        patient_id="", patient_name="", study_id="", accession_number="")
    sc.PatientOrientation = ""  # highdicom needs a value for PATIENT; the truth is unknown
    sc.Laterality = ""
    sc.SeriesDescription = "Image exported by dermview"
    return sc


def _dicom_bytes(ds: Any) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def write_dicom_seg(image_path: str | Path, mask: np.ndarray, out_dir: str | Path, *,
                    rgb: np.ndarray | None = None, model_name: str = "",
                    model_sha256: str = "", edited: bool = False,
                    reviewer: str = "", comment: str = "", comment_by: str = "") -> list[Path]:
    """Write ``<stem>_segmentation.dcm`` (and ``<stem>_image.dcm`` for a non-DICOM image).

    Args:
        image_path: the source image file.
        mask: ``(H, W)`` lesion mask at image resolution.
        out_dir: folder to write into (must exist).
        rgb: the image's pixels, if already loaded (only used for a non-DICOM image).
        model_name, model_sha256, edited, reviewer, comment, comment_by: provenance and
            the review comment (see :func:`build_segmentation`).

    Returns:
        The files written, SEG first. Each is written atomically.

    Raises:
        ImageReadError: the image cannot be read. MaskError: the mask does not fit it.
        WriteError: a file cannot be written.
    """
    from dermview.dicom import quiet
    from dermview.labels import image_sha256

    image_path, out_dir = Path(image_path), Path(out_dir)
    seg_path, sc_path = seg_paths(image_path, out_dir)
    sc = None
    if sc_path is None:
        from dermview.dicom import read_header

        source = read_header(image_path)
    else:
        if rgb is None:
            from dermview.io import load_image

            rgb = load_image(image_path)
        with quiet():
            sc = source = build_secondary_capture(rgb, image_sha256(image_path))
    try:
        with quiet():
            seg_bytes = _dicom_bytes(build_segmentation(
                mask, source, model_name=model_name, model_sha256=model_sha256, edited=edited,
                reviewer=reviewer, comment=comment, comment_by=comment_by))
    except (MaskError, ImageReadError):
        raise
    except Exception as exc:  # noqa: BLE001 - highdicom refuses the source (or is incomplete)
        raise WriteError(f"Cannot write a DICOM SEG for {image_path.name} "
                         f"({type(exc).__name__}: {exc})") from None
    written = []
    if sc is not None and sc_path is not None:
        with quiet():
            sc_bytes = _dicom_bytes(sc)
        atomic_write_bytes(sc_path, sc_bytes)
        written.append(sc_path)
    atomic_write_bytes(seg_path, seg_bytes)
    return [seg_path, *written]


def _drop_2d_pixel_measures(ds: Any) -> None:
    """Remove, in memory, a shared Pixel Measures item without Slice Thickness (the SEG of a
    photograph: highdicom writes it, but its reader requires a slice thickness)."""
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared and "PixelMeasuresSequence" in shared[0]:
        item = shared[0].PixelMeasuresSequence[0]
        if "SliceThickness" not in item:
            del shared[0].PixelMeasuresSequence


def read_dicom_seg(path: str | Path) -> tuple[np.ndarray, str]:
    """The lesion mask of a DICOM SEG of one image: the union of its lesion segments
    (:func:`_lesion_segments`; a FRACTIONAL segment from 0.5).

    Returns:
        ``(mask, referenced_sop_instance_uid)``: ``bool`` ``(H, W)`` and the UID of the image
        it segments.

    Raises:
        ImageReadError: not a readable single-image SEG.
    """
    mask, uid, _ = read_dicom_seg_attributes(path)
    return mask, uid


def read_dicom_seg_attributes(path: str | Path) -> tuple[np.ndarray, str, dict[str, Any]]:
    """:func:`read_dicom_seg` and, from the same reading, :func:`seg_attributes`: ``(mask,
    referenced_sop_instance_uid, attributes)``."""
    import highdicom as hd
    import pydicom

    from dermview.dicom import quiet

    path = Path(path)
    try:
        with quiet():
            ds = pydicom.dcmread(path)
            _drop_2d_pixel_measures(ds)
            seg = hd.seg.Segmentation.from_dataset(ds, copy=False)
            uids = [u[2] for u in seg.get_source_image_uids()]
            if len(uids) != 1:
                raise ImageReadError(f"{path.name} segments {len(uids)} images; dermview "
                                     "reads segmentations of one image")
            pixels = seg.get_pixels_by_source_instance(
                source_sop_instance_uids=uids, segment_numbers=_lesion_segments(ds))
            fractional = str(ds.get("SegmentationType", "")) == "FRACTIONAL"
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"DICOM SEG not found: {path}") from None
    except Exception as exc:  # noqa: BLE001 - any failure to parse is a bad file
        raise ImageReadError(f"{path.name} is not a readable DICOM SEG ({type(exc).__name__})") from None
    lesion = pixels[0] >= 0.5 if fractional else pixels[0] != 0
    return np.ascontiguousarray(lesion.any(axis=-1)), str(uids[0]), seg_attributes(ds)


def seg_attributes(ds: Any) -> dict[str, Any]:
    """What a SEG dataset says of its lesion mask, as the label attributes of the COCO /
    labelme exports (:func:`~dermview.exchange.labelset.label_attributes`): the Content
    Creator as ``reviewed_by`` (dermview writes the reviewer who accepted or corrected the
    mask; then ``review_state`` ``accepted``, or ``corrected`` for SEMIAUTOMATIC), the
    algorithm as ``model_name`` / ``model_sha256`` (its version), SEMIAUTOMATIC as ``edited``,
    Image Comments as ``comment`` (and ``comment_by``, :func:`comment_by_line`);
    {} when its segments cannot be read (the mask's reader says why)."""
    try:
        segments = [s for s in ds.get("SegmentSequence", [])
                    if int(s.SegmentNumber) in _lesion_segments(ds)]
        creator = str(ds.get("ContentCreatorName") or "").strip()
        comment = str(ds.get("ImageComments") or "").strip()
    except Exception:  # noqa: BLE001 - read_dicom_seg reports a bad file
        return {}
    kind = str(segments[0].get("SegmentAlgorithmType", "")) if segments else ""
    out: dict[str, Any] = {}
    if kind in ("AUTOMATIC", "SEMIAUTOMATIC", "MANUAL"):
        out["edited"] = kind == "SEMIAUTOMATIC"
    algo = segments[0].get("SegmentationAlgorithmIdentificationSequence") if segments else None
    if algo:
        out["source"] = "model"
        out["model_name"] = str(algo[0].get("AlgorithmName", ""))
        out["model_sha256"] = str(algo[0].get("AlgorithmVersion", ""))
    if creator:
        out["review_state"] = "corrected" if kind == "SEMIAUTOMATIC" else "accepted"
        out["reviewed_by"] = creator
    out.update(_comment_attributes(comment))
    return out


def _lesion_segments(ds: Any) -> list[int]:
    """The numbers of the segments that are the lesion: those labelled ``lesion``, else those
    of type SCT 52988006 *Lesion*, else every segment (as COCO's categories)."""
    numbers, labelled, typed = [], [], []
    for item in ds.get("SegmentSequence", []):
        number = int(item.SegmentNumber)
        numbers.append(number)
        if str(item.get("SegmentLabel", "")).strip().lower() == "lesion":
            labelled.append(number)
        codes = item.get("SegmentedPropertyTypeCodeSequence") or []
        if any(str(c.get("CodeValue", "")) == "52988006" for c in codes):
            typed.append(number)
    return labelled or typed or numbers
