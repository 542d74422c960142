"""DICOM test files made from pixels with pydicom (nothing downloaded).

``dicom_bytes(rgb, syntax)`` gives a Dermoscopic Photography file of an RGB ``uint8`` image in
one of the transfer syntaxes below. JPEG baseline frames are encoded by Pillow and
encapsulated by pydicom; JPEG-LS, JPEG 2000 and RLE by pydicom's encoders (pyjpegls,
pylibjpeg-openjpeg, its own RLE).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    JPEG2000,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
    generate_uid,
)

DMS = "1.2.840.10008.5.1.4.1.1.77.1.7"
VLP = "1.2.840.10008.5.1.4.1.1.77.1.4"

#: A patient name and ID no output of dermview may contain.
SECRET_NAME = "SECRETNAME^PATIENT"
SECRET_ID = "PID-7734-SECRET"

SYNTAXES = {
    "explicit": ExplicitVRLittleEndian,
    "implicit": ImplicitVRLittleEndian,
    "rle": RLELossless,
    "jpeg": JPEGBaseline8Bit,
    "jpeg-ls": JPEGLSLossless,
    "jpeg-ls-near": JPEGLSNearLossless,
    "j2k-lossless": JPEG2000Lossless,
    "j2k": JPEG2000,
}


def _jpeg_frame(rgb: np.ndarray, keep_rgb: bool = False, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, keep_rgb=keep_rgb)
    return buf.getvalue()


def dataset(rgb: np.ndarray, *, sop_class: str = DMS, photometric: str = "RGB",
            pixel_spacing: tuple[float, float] | None = (0.02, 0.02),
            spacing_keyword: str = "PixelSpacing") -> Dataset:
    """An uncompressed single-frame photograph dataset (Explicit VR Little Endian)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "DMS" if sop_class == DMS else "XC"
    ds.PatientName = SECRET_NAME
    ds.PatientID = SECRET_ID
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20260101", "120000", "1", ""
    ds.ReferringPhysicianName = ""
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.Manufacturer = "dermview tests"
    ds.PatientOrientation = ""
    ds.ContentDate, ds.ContentTime = "20260101", "120000"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.LossyImageCompression = "00"
    ds.Rows, ds.Columns = int(rgb.shape[0]), int(rgb.shape[1])
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = photometric
    ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if pixel_spacing is not None:
        setattr(ds, spacing_keyword, [f"{pixel_spacing[0]:g}", f"{pixel_spacing[1]:g}"])
    ds.PixelData = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    return ds


def to_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def dicom_bytes(rgb: np.ndarray, syntax: str = "explicit", **kw) -> bytes:
    """A DICOM file of ``rgb`` in transfer syntax ``syntax`` (a key of :data:`SYNTAXES`, or
    ``jpeg-rgb-as-ybr``: an RGB JPEG codestream in a file whose header says YBR_FULL_422)."""
    ds = dataset(rgb, **kw)
    if syntax in ("jpeg", "jpeg-rgb-as-ybr"):
        keep_rgb = syntax == "jpeg-rgb-as-ybr"
        ds.PixelData = encapsulate([_jpeg_frame(rgb, keep_rgb=keep_rgb)])
        ds["PixelData"].VR = "OB"
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.LossyImageCompression = "01"
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    elif syntax in ("explicit", "implicit"):
        ds.file_meta.TransferSyntaxUID = SYNTAXES[syntax]
    else:
        kwargs = {"j2k_cr": [20]} if syntax == "j2k" else {}
        kwargs.update({"jls_error": 2} if syntax == "jpeg-ls-near" else {})
        ds.compress(SYNTAXES[syntax], **kwargs)
        if syntax in ("j2k", "jpeg-ls-near"):
            ds.LossyImageCompression = "01"
    return to_bytes(ds)


def dciodvfy(path) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` lines of dicom3tools' ``dciodvfy`` on a file; the test is skipped
    when the tool is missing (``.ci/run`` installs the Debian package dicom3tools)."""
    import shutil
    import subprocess

    import pytest

    tool = shutil.which("dciodvfy")
    if tool is None:
        pytest.skip("dciodvfy not installed (Debian package dicom3tools; .ci/run installs it)")
    proc = subprocess.run([tool, str(path)], capture_output=True, text=True, errors="replace",
                          timeout=120)
    lines = (proc.stdout + proc.stderr).splitlines()
    return ([ln for ln in lines if ln.startswith("Error")],
            [ln for ln in lines if ln.startswith("Warning")])


def assert_valid_dicom(path) -> list[str]:
    """dciodvfy finds no error in ``path``; its warnings are returned."""
    errors, warns = dciodvfy(path)
    assert errors == [], f"dciodvfy errors in {path}: {errors}"
    return warns
